// zlib, with MemTrace as its allocator: `dotnet run --project samples/ZlibAllocator`.
return MemTrace.Samples.Zlib.ZlibSample.Run(Console.Out);
