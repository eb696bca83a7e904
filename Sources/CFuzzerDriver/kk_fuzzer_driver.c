/* Declarations only; the driver comes from libFuzzer's runtime in the fuzzing build. */
#include "kk_fuzzer_driver.h"
