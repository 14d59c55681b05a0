/* Helper threads that take no signals. */
#ifndef BERTH_UTIL_THREAD_H
#define BERTH_UTIL_THREAD_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>

/* Start fn(arg) in a thread that takes no signals (it inherits a full signal mask): the
 * process's handlers and sigwait()s stay with the threads that expect them. ret NULL makes
 * it detached; stack 0 keeps the default size. Returns pthread_create()'s result. */
static inline int thread_start_quiet(pthread_t *ret, void *(*fn)(void *), void *arg,
				     size_t stack)
{
	pthread_attr_t attr;
	int r = pthread_attr_init(&attr);
	if (r != 0)
		return r;
	if (!ret)
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (stack)
		pthread_attr_setstacksize(&attr, stack);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_t t;
	r = pthread_create(ret ? ret : &t, &attr, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return r;
}

#endif
