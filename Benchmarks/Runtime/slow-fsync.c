/* For the benchmark only, never the tests: an LD_PRELOAD shim that makes every fsync and
 * fdatasync sleep first (SLOW_FSYNC_MILLISECONDS, default 200), as an SD card under write load
 * does, so Benchmarks/Runtime/run.py can show that the siren does not wait for the disk. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

static void slow_down(void) {
    const char *text = getenv("SLOW_FSYNC_MILLISECONDS");
    long milliseconds = text ? atol(text) : 200;
    struct timespec pause = { milliseconds / 1000, (milliseconds % 1000) * 1000000L };
    nanosleep(&pause, NULL);
}

int fsync(int descriptor) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    slow_down();
    return real(descriptor);
}

int fdatasync(int descriptor) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    slow_down();
    return real(descriptor);
}
