import { expect } from 'chai';
import { escapeHtml, Html, html } from '../../../src/http/pages/html.js';

describe('page HTML', () => {
  it('escapes every interpolated text, in content and in quoted attributes', () => {
    const name = `O'Brien <x> & "Zoë"`;
    expect(html`<td title="${name}">${name}</td>`.text)
      .to.equal('<td title="O&#39;Brien &lt;x&gt; &amp; &quot;Zoë&quot;">O&#39;Brien &lt;x&gt; &amp; &quot;Zoë&quot;</td>');
    expect(html`<p>${'<script>alert(1)</script>'}</p>`.text).to.equal('<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>');
    expect(html`<a href="?q=${'" onmouseover="x'}">`.text).to.equal('<a href="?q=&quot; onmouseover=&quot;x">');
    // Escaping is not applied twice to text that already looks escaped.
    expect(html`${'&amp;'}`.text).to.equal('&amp;amp;');
  });

  it('keeps non-ASCII text as it is', () => {
    expect(html`${'Zoë Łukasz Müller-Đorđević 山田'}`.text).to.equal('Zoë Łukasz Müller-Đorđević 山田');
    expect(escapeHtml('Ångström')).to.equal('Ångström');
  });

  it('inserts nested templates and lists as markup, and nothing for null, undefined and false', () => {
    const rows = ['a<b', 'c&d'].map((v) => html`<li>${v}</li>`);
    expect(html`<ul>${rows}</ul>`.text).to.equal('<ul><li>a&lt;b</li><li>c&amp;d</li></ul>');
    expect(html`[${null}${undefined}${false}]`.text).to.equal('[]');
    expect(html`${0} ${12.5} ${true}`.text).to.equal('0 12.5 true');
    expect(html`${[['<', html`<br>`], '>']}`.text).to.equal('&lt;<br>&gt;');
  });

  it('treats only Html values as markup, never a string that looks like markup', () => {
    const made = html`<b>${'x'}</b>`;
    expect(made).to.be.instanceOf(Html);
    expect(html`${made.text}`.text).to.equal('&lt;b&gt;x&lt;/b&gt;');
    expect(String(made)).to.equal('<b>x</b>');
  });
});
