/* Resource limits of a container process (`--ulimit nofile=1024:2048`), Docker's syntax.
 * Apply them in the container's init before execve; they are inherited from there. */
#ifndef BERTH_RUNTIME_RLIMIT_H
#define BERTH_RUNTIME_RLIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct rt_rlimit {
	int resource;  /* RLIMIT_NOFILE, ... */
	uint64_t soft; /* RLIM_INFINITY for "unlimited" (-1 in Docker's syntax) */
	uint64_t hard;
};

/* Parse "name=soft[:hard]" (hard defaults to soft). Names are Docker's: core cpu data fsize
 * locks memlock msgqueue nice nofile nproc rss rtprio rttime sigpending stack ("as" is
 * refused, as Docker does). Values are decimal integers, -1 meaning unlimited; a soft limit
 * above the hard one, or an unlimited soft under a finite hard, is -EINVAL. *ret is filled
 * only on success; *err names the offending spec. */
int rt_rlimit_parse(const char *spec, struct rt_rlimit *ret, struct berr **err);

/* The Docker name of a resource ("nofile"), or NULL. Static storage. */
const char *rt_rlimit_name(int resource);

/* setrlimit() each of lims[0..n). A limit the process may not raise (EPERM: no
 * CAP_SYS_RESOURCE, or nofile above fs.nr_open) is clamped to the current hard limit and
 * set again, with a debug log line, instead of failing: containers started from an
 * unprivileged or nested host still run. Returns 0 or -errno for any other failure. */
int rt_rlimit_apply(const struct rt_rlimit *lims, size_t n, struct berr **err);

#endif
