/*
 * Small HR feeds written out by hand for the entry-point tests (CLI, API, drop folder): a company
 * of `count` people, all active and hired in the past, everyone reporting to the first one, in
 * the columns config/hr-mapping.json reads. Unlike the generator's feeds, nothing here depends on
 * today's date, so what a feed does is known exactly.
 */

export const HR_COLUMNS = [
  'employee_id', 'first_name', 'last_name', 'preferred_name', 'work_email', 'department', 'title', 'manager_id',
  'location', 'cost_center', 'employment_type', 'status', 'hire_date', 'termination_date', 'github_login',
] as const;

export type HrColumn = (typeof HR_COLUMNS)[number];
export type HrPerson = Record<HrColumn, string>;

/** Employee id of person `i` (1-based). */
export const employeeId = (i: number): string => `T${String(i).padStart(5, '0')}`;

/** A company of `count` people; `prefix` keeps emails unique between companies in one database. */
export function company(count: number, prefix = 'p'): HrPerson[] {
  return Array.from({ length: count }, (_, k) => {
    const i = k + 1;
    return {
      employee_id: employeeId(i),
      first_name: `Given${i}`,
      last_name: `Family${i}`,
      preferred_name: '',
      work_email: `${prefix}${i}@example.com`,
      department: 'Engineering',
      title: 'Engineer',
      manager_id: i === 1 ? '' : employeeId(1),
      location: 'Berlin',
      cost_center: 'CC-1',
      employment_type: 'Employee',
      status: 'Active',
      hire_date: '2020-01-01',
      termination_date: '',
      github_login: '',
    };
  });
}

/** The people with those (1-based) numbers terminated in the past: leavers. */
export function terminated(people: HrPerson[], numbers: number[]): HrPerson[] {
  return people.map((p, k) => (numbers.includes(k + 1) ? { ...p, status: 'Terminated', termination_date: '2021-06-30' } : p));
}

/** The feed as CSV, with the header; cells holding a comma or quote are quoted. */
export function toCsv(people: HrPerson[], columns: readonly string[] = HR_COLUMNS): string {
  const cell = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  return `${[columns.join(','), ...people.map((p) => columns.map((c) => cell((p as Record<string, string>)[c] ?? '')).join(','))].join('\n')}\n`;
}

/** The feed as a JSON array of objects keyed by column. */
export function toJson(people: HrPerson[]): string {
  return JSON.stringify(people);
}
