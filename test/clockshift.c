/*-------------------------------------------------------------------------
 *
 * clockshift.c
 *		An LD_PRELOAD library that shifts the wall clock of a process by
 *		SIPCALL_CLOCK_OFFSET seconds, for running the test suites at a
 *		date of one's choosing (test/run, TEST_DATE and TEST_DATES).
 *
 * Only the wall clock moves: clock_gettime() of the realtime clocks,
 * gettimeofday() and time().  The monotonic clocks, sleeps, waits and
 * timers are left alone, and the shift is the same in every process and
 * at every moment, so a server's timeouts keep working.
 *
 * Why not Debian's libfaketime: its epoll_wait(), poll() and select()
 * wrappers switch faking off while they wait.  PostgreSQL waits for a
 * lock in epoll_wait(), and its SIGALRM handler, which runs inside that
 * wait, then reads the real clock, finds the faked deadline years away
 * and re-arms the timer for then: lock_timeout and statement_timeout
 * never fire (measured with libfaketime 0.9.10 on PostgreSQL 15).
 *
 * The offset is read once, when the library is loaded; a process started
 * with the variable unset or not a number runs on the real clock.
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		test/clockshift.c
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

typedef int (*clock_gettime_fn) (clockid_t, struct timespec *);

static clock_gettime_fn real_clock_gettime;
static time_t offset;

__attribute__((constructor))
static void
clockshift_init(void)
{
	const char *s = getenv("SIPCALL_CLOCK_OFFSET");
	char	   *end;
	long long	v;

	real_clock_gettime = (clock_gettime_fn) dlsym(RTLD_NEXT, "clock_gettime");
	if (s == NULL || *s == '\0')
		return;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == 0 && *end == '\0')
		offset = (time_t) v;
}

static int
is_wall_clock(clockid_t id)
{
	return id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE;
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	int			rc;

	if (real_clock_gettime == NULL)
		clockshift_init();
	rc = real_clock_gettime(id, ts);
	if (rc == 0 && is_wall_clock(id))
		ts->tv_sec += offset;
	return rc;
}

int
gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	struct timespec ts;

	(void) tz;
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return -1;
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

time_t
time(time_t *t)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return (time_t) -1;
	if (t != NULL)
		*t = ts.tv_sec;
	return ts.tv_sec;
}
