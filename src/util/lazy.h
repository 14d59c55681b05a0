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
