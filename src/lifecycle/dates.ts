/*
 * Day arithmetic of the lifecycle. Effective dates (hire, termination, the day access starts or
 * ends) are ISO dates compared as text, in UTC: a date is reached when today's UTC date is that
 * date or later.
 */

/** One day in milliseconds (days here are UTC days, without daylight saving). */
export const DAY_MS = 86_400_000;

/** The ISO date (UTC) of a time. */
export const isoDate = (at: Date): string => at.toISOString().slice(0, 10);

/** The time `days` days after `at` (before, when negative). */
export const daysAfter = (at: Date, days: number): Date => new Date(at.getTime() + days * DAY_MS);
