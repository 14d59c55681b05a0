/* Shared libraries loaded on first use: see lazy.h. */
#include "lazy.h"
#include "fs.h"
#include "thread.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "banned.h"

/* The dynamic linker's equivalent failure ends the process too: write one line and go, with
 * no stdio (a stub may be reached in a forked child or with stdout half-written). */
static _Noreturn void lazy_fatal(const char *what, const char *detail)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "berth: cannot load %s: %s\n", what, detail ? detail : "unknown error");
	if (n > 0)
		(void) !write(STDERR_FILENO, msg, (size_t) n < sizeof(msg) ? (size_t) n : sizeof(msg) - 1);
	_exit(125);
}

/* The libraries always loaded with a stand-in for one of theirs (lazy.h). */
static const char *standin_of(const char *soname)
{
	return strcmp(soname, "libarchive.so.13") == 0 ? "berth-libxml2-off.so" : NULL;
}

static void *lazy_handle(struct berth_lazy *lib)
{
	void *h = __atomic_load_n(&lib->handle, __ATOMIC_ACQUIRE);
	if (h)
		return h;
	/* Two threads may get here at once: dlopen() of the same library returns the same handle
	 * (counted twice, never closed), so the race is harmless. */
	const char *standin = standin_of(lib->soname);
	if (standin && berth_lazy_load_with(lib, standin))
		return __atomic_load_n(&lib->handle, __ATOMIC_ACQUIRE);
	h = dlopen(lib->soname, RTLD_LAZY | RTLD_LOCAL);
	if (h)
		__atomic_store_n(&lib->handle, h, __ATOMIC_RELEASE);
	return h;
}

void *berth_lazy_resolve(struct berth_lazy *lib, unsigned idx)
{
	if (idx >= lib->count)
		lazy_fatal(lib->soname, "bad stub index");
	void *h = lazy_handle(lib);
	if (!h)
		lazy_fatal(lib->soname, dlerror());
	dlerror();
	void *fn = dlsym(h, lib->names[idx]);
	if (!fn) {
		char what[256];
		snprintf(what, sizeof(what), "%s from %s", lib->names[idx], lib->soname);
		lazy_fatal(what, dlerror());
	}
	__atomic_store_n(&lib->slots[idx], fn, __ATOMIC_RELEASE);
	return fn;
}

#define PRELOAD_MAX 8

static struct berth_lazy *preload_libs[PRELOAD_MAX];

static void *preload_main(void *arg)
{
	size_t n = (size_t)(uintptr_t)arg;
	for (size_t i = 0; i < n; i++) {
		struct berth_lazy *lib = preload_libs[i];
		void *h = lazy_handle(lib);
		if (!h)
			continue;
		/* Every function too: dlsym() takes the loader's lock, so a first call in the
		 * command's thread would otherwise wait for the next library's whole load. */
		for (size_t k = 0; k < lib->count; k++) {
			void *fn = dlsym(h, lib->names[k]);
			if (fn)
				__atomic_store_n(&lib->slots[k], fn, __ATOMIC_RELEASE);
		}
	}
	return NULL;
}

void berth_lazy_preload(struct berth_lazy *const libs[], size_t n)
{
	static int started;
	size_t k = 0;
	if (__atomic_exchange_n(&started, 1, __ATOMIC_ACQ_REL))
		return;
	for (size_t i = 0; i < n && k < PRELOAD_MAX; i++)
		if (libs[i] && !__atomic_load_n(&libs[i]->handle, __ATOMIC_ACQUIRE))
			preload_libs[k++] = libs[i];
	if (!k)
		return;
	/* Failing to start it only means loading on first use, as without it. */
	(void)thread_start_quiet(NULL, preload_main, (void *)(uintptr_t)k, 0);
}

#ifndef BERTH_LIBEXECDIR
#define BERTH_LIBEXECDIR "/usr/local/libexec/berth"
#endif

int berth_lazy_load_with(struct berth_lazy *lib, const char *file)
{
	if (!lib || __atomic_load_n(&lib->handle, __ATOMIC_ACQUIRE))
		return 0;
	/* Beside the executable first (a build tree), then where make install puts it. */
	char path[PATH_MAX];
	void *with = NULL;
	if (fs_beside_self(file, path, sizeof(path)) == 0)
		with = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!with &&
	    (size_t)snprintf(path, sizeof(path), "%s/%s", BERTH_LIBEXECDIR, file) < sizeof(path))
		with = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!with)
		return 0;
	/* RTLD_NOW: every symbol bound here, so a missing one fails this call and not a
	 * later one. */
	void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		dlclose(with);
		return 0;
	}
	__atomic_store_n(&lib->handle, h, __ATOMIC_RELEASE);
	return 1;
}
