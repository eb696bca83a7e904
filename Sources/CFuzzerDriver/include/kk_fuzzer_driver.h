#ifndef KAKEHASHI_FUZZER_DRIVER_H
#define KAKEHASHI_FUZZER_DRIVER_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (compiler-rt, LLVM 11+), present when linking with -sanitize=fuzzer. Only
/// the fuzzing build of kakehashi-fuzz-ble calls it.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
#endif
