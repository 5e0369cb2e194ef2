#!/bin/sh
# Builds MemTrace's native library (NativeAOT) and the seed's example in C against it, then runs it.
# Needs the .NET SDK and a C compiler (cc, gcc or clang).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/bin"
dotnet publish "$here/../../src/MemTrace.Native" -c Release --use-current-runtime -o "$out" --nologo -v quiet
${CC:-cc} -std=c11 -Wall -Wextra -I"$out/include" "$here/seed_example.c" -L"$out" -lmemtrace -Wl,-rpath,"$out" -o "$out/seed_example"
exec "$out/seed_example"
