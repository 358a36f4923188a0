/*
 * HTML built from tagged templates that escape every interpolated value: a name like
 * `O'Brien <x> & Zoë` is shown as written and can never become markup. Only Html values (what
 * `html` itself returns) are inserted as they are, so markup can come only from template text.
 */

/** Markup that is already safe to insert. */
export class Html {
  constructor(readonly text: string) {}

  toString(): string {
    return this.text;
  }
}

/** What a template may interpolate: text (escaped), numbers, markup, nothing (null, undefined, false), or a list of these. */
export type HtmlValue = Html | string | number | boolean | null | undefined | readonly HtmlValue[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text with the five characters that matter in element content and quoted attributes escaped. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function render(value: HtmlValue): string {
  if (value instanceof Html) return value.text;
  if (value === null || value === undefined || value === false) return '';
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/** The tag for templates: `html\`<td>${name}</td>\`` escapes name; nested html values stay markup. */
export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new Html(out);
}
