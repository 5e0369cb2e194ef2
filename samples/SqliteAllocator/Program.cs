// SQLite, with MemTrace as its allocator, in a modelled ESP32's PSRAM: `dotnet run --project samples/SqliteAllocator`.
return MemTrace.Samples.Sqlite.SqliteSample.Run(Console.Out);
