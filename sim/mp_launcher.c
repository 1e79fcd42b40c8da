/* A lighter start for a simulated board: the MicroPython unix port ships as a CPython extension
 * (micropython_run*.so) whose `micropython` command is a CPython script calling its run_main(). This
 * program maps the same extension and calls the port's main directly, without starting a CPython
 * interpreter: libpython is only loaded so that the extension's references to it resolve; none of it
 * runs (the port's main calls no Python API).
 *
 * Built by sim/board_process.py with -DLIBPYTHON="..." -DEXTENSION="..." (absolute paths); any failure
 * here exits 127 and the simulator falls back to the `micropython` script.
 *
 *     mp_launcher -X heapsize=262144 -m firmware.main      (the arguments of `micropython`)
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>

typedef int (*unix_main_fn)(int argc, char **argv);

int main(int argc, char **argv) {
    /* As under the CPython wrapper: a write to a socket the broker closed is an error, not a death. */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);
    if (dlopen(LIBPYTHON, RTLD_NOW | RTLD_GLOBAL) == NULL) {
        fprintf(stderr, "mp_launcher: %s\n", dlerror());
        return 127;
    }
    void *port = dlopen(EXTENSION, RTLD_NOW | RTLD_GLOBAL);
    if (port == NULL) {
        fprintf(stderr, "mp_launcher: %s\n", dlerror());
        return 127;
    }
    unix_main_fn unix_main = (unix_main_fn)dlsym(port, "micropython_unix_main");
    if (unix_main == NULL) {
        fprintf(stderr, "mp_launcher: %s\n", dlerror());
        return 127;
    }
    return unix_main(argc, argv);
}
