/* Shared libraries loaded on first use.
 *
 * Most commands need none of libcurl, libmicrohttpd, libnftables, libarchive and libcrypto, and
 * loading them (with the 40 libraries libcurl alone pulls in) is most of the start-up time of a
 * short command: `berth images` went from 7.6 ms to about 1 ms without them. So the berth binary
 * does not link them; for each function berth calls (the list in src/util/lazy/NAME.syms)
 * scripts/gen-lazy.py writes a stub of the same name that jumps through a table slot. The first
 * call of any stub lands in berth_lazy_resolve(), which dlopen()s the library by its SONAME,
 * looks the function up and stores it in the slot; later calls cost one indirect jump.
 *
 * Only the berth executable uses the stubs (x86-64; the build links the libraries directly on
 * other machines, option -Dlazy_libs=false). The unit tests and fuzzers link the libraries as
 * usual. A library that cannot be loaded at that moment ends the process with status 125 and a
 * one-line message, as a missing library would have at start-up before.
 */
#pragma once

#include <stddef.h>

/* One lazily loaded library; the generated assembly lays these fields out in this order. */
struct berth_lazy {
	const char *soname;
	void **slots;
	const char *const *names;
	size_t count;
	void *handle;
};

/* Called by the stubs only: the address of function IDX of LIB, loading LIB if needed. */
void *berth_lazy_resolve(struct berth_lazy *lib, unsigned idx);

/* LAZY_LIB(archive): declares berth_lazy_archive, the table of a library the stubs load, or a
 * null address where that library is linked as usual (unit tests, -Dlazy_libs=disabled). */
#define LAZY_LIB(name) extern struct berth_lazy berth_lazy_##name __attribute__((weak))

/* Load these libraries (null entries skipped) in a detached thread, in this order, while the
 * caller goes on: libarchive alone brings fourteen libraries (libstdc++, ICU, libxml2 among
 * them) whose loading costs 1.5-2 ms, libcrypto another millisecond, and a command that knows
 * it will need them can do its own system calls meanwhile. A stub reached before its library
 * is loaded waits in dlopen() for the thread's load and gets the same handle. Only for
 * commands whose forked children run nothing but system calls before exec or _exit: a fork
 * during a load copies the loader's lock in its locked state. */
void berth_lazy_preload(struct berth_lazy *const libs[], size_t n);

/* Load LIB now with the shared object FILE (a file name, looked for beside the running
 * executable, then in BERTH_LIBEXECDIR) loaded before it: an object whose SONAME is one of
 * LIB's DT_NEEDED names stands in for that library (src/util/standin/). When LIB does not
 * load against it (a symbol it lacks), FILE is unloaded again and LIB is left to be loaded
 * as usual. Returns 1 when LIB was loaded with FILE, 0 when not (LIB linked as usual or
 * already loaded, FILE not found or refused). libarchive is always loaded this way, with
 * berth-libxml2-off.so; `registry serve` without TLS loads libmicrohttpd with
 * berth-gnutls-off.so. Weak: code that the unit tests link too calls it only when its
 * address is not null. */
int berth_lazy_load_with(struct berth_lazy *lib, const char *file) __attribute__((weak));
