/*-------------------------------------------------------------------------
 *
 * jsontime.c
 *		The text to_jsonb() gives a timestamptz, written without a time
 *		zone lookup per value.
 *
 * JsonEncodeDateTime() converts every value through pg_localtime(), which
 * in an export costs more than all the rest of a row's formatting.  An
 * export formats tens of thousands of timestamps that nearly all share one
 * UTC offset, so this keeps the offset of the session's time zone over the
 * span in which it is known to be constant (from the value it was looked
 * up for to the zone's next transition, as pg_next_dst_boundary() gives
 * it) and does the calendar arithmetic itself.  Whatever it does not cover
 * (infinities, years outside 1 to 9999) goes to JsonEncodeDateTime().
 *
 * The output is JsonEncodeDateTime()'s for the same value, byte for byte:
 * "YYYY-MM-DDTHH:MM:SS[.ffffff]+HH:MM[:SS]", the fraction without trailing
 * zeros.  The regression test gdpr.sql compares the two over transitions
 * of several zones, offsets with seconds and fractions of a second.
 *
 * Calls: nothing of sipcall's.
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/jsontime.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "pgtime.h"
#include "utils/datetime.h"
#include "utils/json.h"

#include "sipcall.h"

/*
 * The session zone's UTC offset, known to hold for every second in
 * [from, until).  A zone (pg_tz) is never freed once loaded, so its address
 * identifies it for the life of the backend.
 */
typedef struct OffsetSpan
{
	const pg_tz *tz;
	pg_time_t	from;
	pg_time_t	until;
	long		gmtoff;			/* seconds east of UTC */
} OffsetSpan;

static OffsetSpan span = {NULL, 0, 0, 0};

/* the last Julian day converted, and its date */
static struct
{
	int64		julian;
	int			year;
	int			month;
	int			mday;
}			last_day = {-1, 0, 0, 0};

/*
 * The date and second of the day of a count of seconds since 2000-01-01
 * 00:00; false when the day is outside what j2date() takes.
 */
static bool
civil(int64 secs, int *year, int *month, int *mday, int *sod)
{
	int64		days = secs / SECS_PER_DAY;
	int64		rem = secs % SECS_PER_DAY;

	if (rem < 0)
	{
		rem += SECS_PER_DAY;
		days--;
	}
	days += POSTGRES_EPOCH_JDATE;
	if (days < 0 || days > INT_MAX)
		return false;
	/* exported rows come roughly in time order: many share their day */
	if (days != last_day.julian)
	{
		j2date((int) days, &last_day.year, &last_day.month, &last_day.mday);
		last_day.julian = days;
	}
	*year = last_day.year;
	*month = last_day.month;
	*mday = last_day.mday;
	*sod = (int) rem;
	return true;
}

/*
 * Make span hold the session zone's offset at t (Unix seconds).  False
 * when pg_localtime()'s wall clock for t is not UTC plus its offset, which
 * no zone PostgreSQL accepts does (it refuses zones with leap seconds);
 * the caller then takes the general path.
 */
static bool
find_offset(pg_time_t t)
{
	const pg_tz *tz = session_timezone;
	struct pg_tm *tx;
	long		before_gmtoff;
	long		after_gmtoff;
	int			before_isdst;
	int			after_isdst;
	pg_time_t	boundary;
	int			r;
	int			year;
	int			month;
	int			mday;
	int			sod;

	if (tz == span.tz && t >= span.from && t < span.until)
		return true;
	span.tz = NULL;

	/* the offset comes from where timestamp2tm() takes it */
	tx = pg_localtime(&t, tz);
	if (tx == NULL ||
		!civil(t + tx->tm_gmtoff -
			   (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY,
			   &year, &month, &mday, &sod) ||
		year != tx->tm_year + 1900 || month != tx->tm_mon + 1 ||
		mday != tx->tm_mday ||
		sod != tx->tm_hour * SECS_PER_HOUR + tx->tm_min * SECS_PER_MINUTE +
		tx->tm_sec)
		return false;
	span.tz = tz;
	span.from = t;
	span.until = t + 1;
	span.gmtoff = tx->tm_gmtoff;

	/* and lasts up to the next transition, when the two agree on it */
	r = pg_next_dst_boundary(&t, &before_gmtoff, &before_isdst, &boundary,
							 &after_gmtoff, &after_isdst, tz);
	if (r >= 0 && before_gmtoff == span.gmtoff)
	{
		if (r == 0)
			span.until = PG_INT64_MAX;	/* no transition after t */
		else if (boundary > t)
			span.until = boundary;
	}
	return true;
}

/* n as exactly width digits, zero-padded; returns the end */
static inline char *
put_digits(char *p, unsigned int n, int width)
{
	char	   *end = p + width;

	while (width-- > 0)
	{
		p[width] = (char) ('0' + n % 10);
		n /= 10;
	}
	return end;
}

/*
 * Write the text of ts as to_jsonb() would give it (without quotes) into
 * buf, which has room for MAXDATELEN + 1 bytes; returns its length.
 */
int
sipcall_json_timestamptz(char *buf, TimestampTz ts)
{
	int64		secs;
	int64		usecs;
	long		gmtoff;
	long		a;
	int			year;
	int			month;
	int			mday;
	int			sod;
	char	   *p = buf;

	if (TIMESTAMP_NOT_FINITE(ts))
		goto general;

	/* whole seconds since 2000-01-01 00:00 UTC, rounded down */
	secs = ts / USECS_PER_SEC;
	usecs = ts % USECS_PER_SEC;
	if (usecs < 0)
	{
		usecs += USECS_PER_SEC;
		secs--;
	}
	if (!find_offset(secs + (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY))
		goto general;
	gmtoff = span.gmtoff;
	a = Abs(gmtoff);

	/* the wall-clock time there */
	if (!civil(secs + gmtoff, &year, &month, &mday, &sod) ||
		year < 1 || year > 9999 || a >= 100 * SECS_PER_HOUR)
		goto general;

	p = put_digits(p, year, 4);
	*p++ = '-';
	p = put_digits(p, month, 2);
	*p++ = '-';
	p = put_digits(p, mday, 2);
	*p++ = 'T';
	p = put_digits(p, sod / SECS_PER_HOUR, 2);
	*p++ = ':';
	p = put_digits(p, sod / SECS_PER_MINUTE % MINS_PER_HOUR, 2);
	*p++ = ':';
	p = put_digits(p, sod % SECS_PER_MINUTE, 2);
	if (usecs != 0)
	{
		unsigned int frac = (unsigned int) usecs;
		int			ndigits = 6;

		while (frac % 10 == 0)
		{
			frac /= 10;
			ndigits--;
		}
		*p++ = '.';
		p = put_digits(p, frac, ndigits);
	}

	/* the offset: +HH:MM, and :SS when it has seconds */
	*p++ = (gmtoff >= 0) ? '+' : '-';
	p = put_digits(p, a / SECS_PER_HOUR, 2);
	*p++ = ':';
	p = put_digits(p, a / SECS_PER_MINUTE % MINS_PER_HOUR, 2);
	if (a % SECS_PER_MINUTE != 0)
	{
		*p++ = ':';
		p = put_digits(p, a % SECS_PER_MINUTE, 2);
	}
	*p = '\0';
	return (int) (p - buf);

general:
	JsonEncodeDateTime(buf, TimestampTzGetDatum(ts), TIMESTAMPTZOID, NULL);
	return (int) strlen(buf);
}
