import { expect } from 'chai';
import { GithubError, githubErrorText, githubFailure, INVITATION_LIMIT_WAIT_MS, nextPageUrl, rateLimitWaitMs, SECONDARY_LIMIT_WAIT_MS } from '../../../connectors/github/protocol.js';

const NOW = Date.parse('2025-06-01T12:00:00Z');

function answer(status: number, headers: Record<string, string> = {}, body: unknown = { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' }) {
  return { status, headers: new Headers(headers), body };
}

describe('GitHub protocol rules', () => {
  describe('githubErrorText', () => {
    it('takes GitHub\'s message and the messages (or codes) of a 422\'s errors', () => {
      expect(githubErrorText({ message: 'Not Found', documentation_url: 'x' })).to.equal('Not Found');
      expect(githubErrorText({ message: 'Validation Failed', errors: [{ message: 'Invitee is already a part of this organization' }, { field: 'email', code: 'invalid' }] }))
        .to.equal('Validation Failed: Invitee is already a part of this organization: email invalid');
      expect(githubErrorText('<html>Bad Gateway</html>')).to.equal('<html>Bad Gateway</html>');
      expect(githubErrorText(undefined)).to.equal('');
    });
  });

  describe('rateLimitWaitMs', () => {
    const cases: Array<[string, ReturnType<typeof answer>, number | undefined]> = [
      ['429 with Retry-After', answer(429, { 'retry-after': '7' }), 7000],
      ['429 without headers: GitHub advises a minute', answer(429, {}, { message: 'slow down' }), SECONDARY_LIMIT_WAIT_MS],
      ['429 with only the primary-limit headers', answer(429, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(NOW / 1000 + 90) }), 90_000],
      ['403 primary limit: remaining 0, reset', answer(403, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(NOW / 1000 + 120) }), 120_000],
      ['403 primary limit whose reset has passed', answer(403, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(NOW / 1000 - 5) }), 0],
      ['403 secondary limit with Retry-After', answer(403, { 'retry-after': '30' }, { message: 'You have exceeded a secondary rate limit.' }), 30_000],
      ['403 secondary limit named only by its text', answer(403, {}, { message: 'You have exceeded a secondary rate limit. Please wait a few minutes' }), SECONDARY_LIMIT_WAIT_MS],
      ['403 with requests remaining is a refusal', answer(403, { 'x-ratelimit-remaining': '4999', 'x-ratelimit-reset': String(NOW / 1000 + 120) }, { message: 'Must have admin rights to Organization.' }), undefined],
      ['422 of the daily invitation cap', answer(422, {}, { message: 'Validation Failed', errors: [{ message: 'Over invitation rate limit' }] }), INVITATION_LIMIT_WAIT_MS],
      ['422 of anything else', answer(422, {}, { message: 'Validation Failed', errors: [{ message: 'Invitee is already a part of this organization' }] }), undefined],
      ['404', answer(404), undefined],
      ['500 with Retry-After is not a rate limit', answer(500, { 'retry-after': '3' }), undefined],
    ];
    for (const [name, a, expected] of cases) {
      it(`${name} → ${expected === undefined ? 'not a limit' : `${expected} ms`}`, () => {
        expect(rateLimitWaitMs(a, NOW)).to.equal(expected);
      });
    }
  });

  describe('githubFailure', () => {
    it('makes other 4xx permanent with GitHub\'s text and keeps the status', () => {
      const e = githubFailure('github', 'PUT /orgs/acme/memberships/{username}', answer(404), undefined, NOW);
      expect(e).to.be.instanceOf(GithubError);
      expect(e.status).to.equal(404);
      expect(e.retryable).to.equal(false);
      expect(e.message).to.equal('github: PUT /orgs/acme/memberships/{username} answered 404: Not Found');
    });

    it('makes rate-limit 403s and 5xx retryable, with the wait', () => {
      const limited = githubFailure('github', 'GET /orgs/acme', answer(403, { 'retry-after': '12' }, { message: 'secondary rate limit' }), undefined, NOW);
      expect([limited.retryable, limited.retryAfterMs]).to.deep.equal([true, 12_000]);
      const down = githubFailure('github', 'GET /orgs/acme', answer(502, {}, { message: 'Server Error' }), undefined, NOW);
      expect([down.retryable, down.retryAfterMs]).to.deep.equal([true, undefined]);
    });

    it('masks a secret GitHub echoes', () => {
      const e = githubFailure('github', 'GET /orgs/acme', answer(401, {}, { message: 'Bad credentials: ghp_secret' }), (t) => t.split('ghp_secret').join('***'), NOW);
      expect(e.message).to.equal('github: GET /orgs/acme answered 401: Bad credentials: ***');
    });
  });

  describe('nextPageUrl', () => {
    it('finds rel="next" among the relations, and nothing on the last page', () => {
      const link = '<https://api.github.com/organizations/1/members?page=2&per_page=100>; rel="next", <https://api.github.com/organizations/1/members?page=5&per_page=100>; rel="last"';
      expect(nextPageUrl(link)).to.equal('https://api.github.com/organizations/1/members?page=2&per_page=100');
      expect(nextPageUrl('<https://x/a?page=1>; rel="first", <https://x/a?page=4>; rel="prev"')).to.equal(undefined);
      expect(nextPageUrl('<https://x/a?page=3>; rel="prev next"')).to.equal('https://x/a?page=3');
      expect(nextPageUrl(null)).to.equal(undefined);
    });
  });
});
