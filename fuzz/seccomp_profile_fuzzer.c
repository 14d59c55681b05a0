/* rt_seccomp_profile_parse on arbitrary bytes, then compiling what parses (never loading).
 * Beyond not crashing: a failure leaves *ret alone and names the origin in its message; a
 * parsed profile either is disabled (compiles to no filter) or compiles to a filter or to
 * an error with a message, for an empty, Docker's default and a full capability set. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caps.h"
#include "seccomp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 20))
		return 0;
	struct rt_seccomp_profile *p = NULL;
	struct berr *err = NULL;
	if (rt_seccomp_profile_parse((const char *)data, size, "fuzz.json", &p, &err) < 0) {
		if (p || !err || !err->msg || !strstr(err->msg, "'fuzz.json'"))
			abort();
		berr_free(err);
		return 0;
	}
	if (!p || err)
		abort();
	const uint64_t sets[] = {0, rt_caps_default(), UINT64_MAX};
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		scmp_filter_ctx ctx = NULL;
		int r = rt_seccomp_profile_compile(p, sets[i], &ctx, &err);
		if (r < 0) {
			if (ctx || !err || !err->msg)
				abort();
			berr_free(err);
			err = NULL;
			continue;
		}
		if (p->disabled != (ctx == NULL))
			abort();
		if (ctx)
			seccomp_release(ctx);
	}
	rt_seccomp_profile_free(p);
	return 0;
}
