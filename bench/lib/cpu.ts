import { readFileSync } from 'node:fs';

/** CPU time a process (all its threads) has used so far, in seconds of user and of system time, read from /proc. */
export function cpuSeconds(pid: number): { user: number; system: number } {
  // Fields after the command name (which may hold spaces, hence the last ")"): utime is the 12th, stime the 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Linux counts in clock ticks of 1/100 s (USER_HZ) on every architecture Node runs on.
  return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
}
