/**
 * One string per distinct value, for the attributes whose values repeat across people
 * (departments, titles, locations, dates, manager ids): every row read brings its own copy, and
 * 100,000 people would otherwise hold a million copies of a few thousand strings.
 */
export class SharedStrings {
  private readonly values = new Map<string, string>();

  /** The one copy of `value` (null stays null). */
  of(value: string | null): string | null {
    if (value === null) return null;
    const known = this.values.get(value);
    if (known !== undefined) return known;
    this.values.set(value, value);
    return value;
  }
}
