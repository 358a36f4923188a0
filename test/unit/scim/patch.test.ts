import { expect } from 'chai';
import { ScimError } from '../../../src/scim/errors.js';
import { applyPatch, type PatchOperation } from '../../../src/scim/patch.js';
import { GROUP_RESOURCE, USER_RESOURCE } from '../../../src/scim/schema.js';

/*
 * applyPatch (RFC 7644 §3.5.2) without a database: every op kind against every path form, then
 * the error cases with their scimType. Expected documents are written out in full.
 */

type Doc = Record<string, any>;

const CORE = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENT = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';

/** A stored User document as the service keeps it (canonical names, no id or meta). */
function base(): Doc {
  return {
    schemas: [CORE, ENT],
    userName: 'bjensen',
    externalId: 'ext-1',
    name: { givenName: 'Barbara', familyName: 'Jensen' },
    displayName: 'Babs',
    active: true,
    emails: [
      { value: 'bj@work.example', type: 'work', primary: true },
      { value: 'bj@home.example', type: 'home' },
    ],
    [ENT]: { department: 'Sales', manager: { value: 'm-1' } },
  };
}

/** The base document after `change`. */
function expected(change: (d: Doc) => void): Doc {
  const d = base();
  change(d);
  return d;
}

const add = (path: string | undefined, value: unknown): PatchOperation => (path === undefined ? { op: 'add', value } : { op: 'add', path, value });
const replace = (path: string | undefined, value: unknown): PatchOperation => (path === undefined ? { op: 'replace', value } : { op: 'replace', path, value });
const remove = (path?: string, value?: unknown): PatchOperation => ({ op: 'remove', ...(path === undefined ? {} : { path }), ...(value === undefined ? {} : { value }) });

type Success = [title: string, ops: PatchOperation[], result: Doc];

function runSuccess(cases: Success[]): void {
  for (const [title, ops, result] of cases) {
    it(title, () => {
      const input = base();
      const before = structuredClone(input);
      expect(applyPatch(USER_RESOURCE, input, ops)).to.deep.equal(result);
      expect(input, 'applyPatch must not modify its input').to.deep.equal(before);
    });
  }
}

type Failure = [title: string, ops: PatchOperation[], scimType: string, detail: RegExp];

function runFailure(cases: Failure[]): void {
  for (const [title, ops, scimType, detail] of cases) {
    it(title, () => {
      const input = base();
      let caught: unknown;
      try {
        applyPatch(USER_RESOURCE, input, ops);
      } catch (err) {
        caught = err;
      }
      expect(caught, 'applyPatch should throw').to.be.instanceOf(ScimError);
      const err = caught as ScimError;
      expect(err.status).to.equal(400);
      expect(err.scimType).to.equal(scimType);
      expect(err.message).to.match(detail);
      expect(input).to.deep.equal(base());
    });
  }
}

describe('applyPatch (RFC 7644 §3.5.2)', () => {
  describe('no path: the value holds the attributes', () => {
    runSuccess([
      ['add sets new attributes and sub-attributes named "name.middleName"', [add(undefined, { nickName: 'Bab', 'name.middleName': 'J' })],
        expected((d) => { d.nickName = 'Bab'; d.name.middleName = 'J'; })],
      ['add appends to a multi-valued attribute', [add(undefined, { emails: [{ value: 'b@other.example', type: 'other' }] })],
        expected((d) => { d.emails.push({ value: 'b@other.example', type: 'other' }); })],
      ['replace replaces simple and multi-valued attributes', [replace(undefined, { displayName: 'Barb', emails: [{ value: 'new@work.example', type: 'work' }] })],
        expected((d) => { d.displayName = 'Barb'; d.emails = [{ value: 'new@work.example', type: 'work' }]; })],
      ['replace merges a complex attribute, keeping sub-attributes it does not name', [replace(undefined, { name: { givenName: 'Barb' } })],
        expected((d) => { d.name.givenName = 'Barb'; })],
      ['replace with an extension URN key and an object value merges into the extension', [replace(undefined, { [ENT]: { department: 'Ops', costCenter: 'CC-7' } })],
        expected((d) => { d[ENT] = { department: 'Ops', costCenter: 'CC-7', manager: { value: 'm-1' } }; })],
      ['add with a fully qualified extension attribute key', [add(undefined, { [`${ENT}:costCenter`]: 'CC-9', [`${ENT}:manager.value`]: 'm-2' })],
        expected((d) => { d[ENT] = { department: 'Sales', costCenter: 'CC-9', manager: { value: 'm-2' } }; })],
      ['keys match in any case and are stored in the schema spelling', [replace(undefined, { DisplayName: 'B', 'NAME.FAMILYNAME': 'J2', ExternalID: 'ext-2' })],
        expected((d) => { d.displayName = 'B'; d.name.familyName = 'J2'; d.externalId = 'ext-2'; })],
      ['a "schemas" key in the value is ignored', [replace(undefined, { schemas: ['urn:x'], nickName: 'N' })],
        expected((d) => { d.nickName = 'N'; })],
      ['replace with the core schema URN prefix on a key', [replace(undefined, { [`${CORE}:displayName`]: 'Core' })],
        expected((d) => { d.displayName = 'Core'; })],
    ]);
  });

  describe('simple attribute path', () => {
    runSuccess([
      ['add nickName', [add('nickName', 'Bab')], expected((d) => { d.nickName = 'Bab'; })],
      ['add over an existing simple value replaces it', [add('displayName', 'Barb')], expected((d) => { d.displayName = 'Barb'; })],
      ['replace displayName', [replace('displayName', 'B. Jensen')], expected((d) => { d.displayName = 'B. Jensen'; })],
      ['replace active with false', [replace('active', false)], expected((d) => { d.active = false; })],
      ['replace with null unassigns', [replace('displayName', null)], expected((d) => { delete d.displayName; })],
      ['remove displayName', [remove('displayName')], expected((d) => { delete d.displayName; })],
      ['remove an attribute that has no value changes nothing', [remove('nickName')], base()],
      ['replace externalId (a common attribute of RFC 7643 §3.1)', [replace('externalId', 'ext-9')], expected((d) => { d.externalId = 'ext-9'; })],
      ['remove externalId', [remove('externalId')], expected((d) => { delete d.externalId; })],
      ['path names match in any case', [replace('DISPLAYNAME', 'Upper')], expected((d) => { d.displayName = 'Upper'; })],
      ['a core-URN-qualified path', [replace(`${CORE}:nickName`, 'Q')], expected((d) => { d.nickName = 'Q'; })],
    ]);
  });

  describe('sub-attribute path', () => {
    runSuccess([
      ['add name.middleName', [add('name.middleName', 'Jane')], expected((d) => { d.name.middleName = 'Jane'; })],
      ['replace name.familyName', [replace('name.familyName', 'Smith')], expected((d) => { d.name.familyName = 'Smith'; })],
      ['remove name.givenName', [remove('name.givenName')], expected((d) => { d.name = { familyName: 'Jensen' }; })],
      ['removing the last sub-attribute removes the complex attribute', [remove('name.givenName'), remove('name.familyName')], expected((d) => { delete d.name; })],
      ['replace a complex attribute merges sub-attributes', [replace('name', { familyName: 'Smith', honorificPrefix: 'Ms.' })],
        expected((d) => { d.name = { givenName: 'Barbara', familyName: 'Smith', honorificPrefix: 'Ms.' }; })],
      ['remove a complex attribute', [remove('name')], expected((d) => { delete d.name; })],
      ['a sub-attribute of a multi-valued attribute without filter addresses every value', [add('emails.display', 'E')],
        expected((d) => { d.emails[0].display = 'E'; d.emails[1].display = 'E'; })],
    ]);
  });

  describe('multi-valued attribute as a whole', () => {
    runSuccess([
      ['add appends one value given as an object', [add('emails', { value: 'b@other.example', type: 'other' })],
        expected((d) => { d.emails.push({ value: 'b@other.example', type: 'other' }); })],
      ['add does not duplicate a value already there', [add('emails', [{ value: 'bj@home.example', type: 'home' }])], base()],
      ['add of a new primary value makes the old one non-primary', [add('emails', [{ value: 'p@new.example', type: 'other', primary: true }])],
        expected((d) => { d.emails[0].primary = false; d.emails.push({ value: 'p@new.example', type: 'other', primary: true }); })],
      ['replace sets exactly the given values', [replace('emails', [{ value: 'only@example.com', type: 'work' }])],
        expected((d) => { d.emails = [{ value: 'only@example.com', type: 'work' }]; })],
      ['replace with two primaries keeps the last one primary', [replace('emails', [{ value: 'a@x.example', primary: true }, { value: 'b@x.example', primary: true }])],
        expected((d) => { d.emails = [{ value: 'a@x.example', primary: false }, { value: 'b@x.example', primary: true }]; })],
      ['remove without value removes every value', [remove('emails')], expected((d) => { delete d.emails; })],
      ['remove with a value list removes only those values', [remove('emails', [{ value: 'bj@home.example' }])],
        expected((d) => { d.emails = [{ value: 'bj@work.example', type: 'work', primary: true }]; })],
      ['sub-attribute keys of the values are stored in the schema spelling', [add('phoneNumbers', [{ VALUE: '+1 555', Type: 'work' }])],
        expected((d) => { d.phoneNumbers = [{ value: '+1 555', type: 'work' }]; })],
    ]);
  });

  describe('value path: attribute[filter]', () => {
    runSuccess([
      ['replace the matching value whole', [replace('emails[type eq "work"]', { value: 'new@work.example', type: 'work' })],
        expected((d) => { d.emails[0] = { value: 'new@work.example', type: 'work' }; })],
      ['add merges into the matching value', [add('emails[type eq "home"]', { display: 'Home' })],
        expected((d) => { d.emails[1].display = 'Home'; })],
      ['remove the matching value only', [remove('emails[type eq "home"]')],
        expected((d) => { d.emails = [{ value: 'bj@work.example', type: 'work', primary: true }]; })],
      ['remove all values matched by an or filter', [remove('emails[type eq "home" or type eq "work"]')],
        expected((d) => { delete d.emails; })],
      ['remove with a filter that matches nothing changes nothing', [remove('emails[type eq "other"]')], base()],
      ['filter attribute names and values of caseExact=false sub-attributes match in any case', [replace('emails[TYPE eq "HOME"]', { value: 'h2@example.com', type: 'home' })],
        expected((d) => { d.emails[1] = { value: 'h2@example.com', type: 'home' }; })],
      ['replace with an equality-only filter that matches nothing adds the value it describes', [replace('emails[type eq "other"]', { value: 'o@example.com' })],
        expected((d) => { d.emails.push({ type: 'other', value: 'o@example.com' }); })],
      ['a replacement value claiming primary takes it from the others', [replace('emails[type eq "home"]', { value: 'bj@home.example', type: 'home', primary: true })],
        expected((d) => { d.emails[0].primary = false; d.emails[1].primary = true; })],
    ]);
  });

  describe('value path with sub-attribute: attribute[filter].sub', () => {
    runSuccess([
      ['replace the sub-attribute of the matching value only', [replace('emails[type eq "work"].value', 'bjensen@work.example')],
        expected((d) => { d.emails[0].value = 'bjensen@work.example'; })],
      ['add a sub-attribute to the matching value', [add('emails[type eq "home"].display', 'Home mail')],
        expected((d) => { d.emails[1].display = 'Home mail'; })],
      ['remove a sub-attribute of the matching value', [remove('emails[type eq "work"].primary')],
        expected((d) => { delete d.emails[0].primary; })],
      ['a filter may match several values', [replace('emails[value ew ".example"].display', 'Mail')],
        expected((d) => { d.emails[0].display = 'Mail'; d.emails[1].display = 'Mail'; })],
      ['making a value primary makes the former primary non-primary', [replace('emails[type eq "home"].primary', true)],
        expected((d) => { d.emails[0].primary = false; d.emails[1].primary = true; })],
      ['replace with an equality-only filter that matches nothing creates the value (as Entra ID expects)', [replace('emails[type eq "other"].value', 'o@example.com')],
        expected((d) => { d.emails.push({ type: 'other', value: 'o@example.com' }); })],
      ['an "and" of equalities pins every sub-attribute of the created value', [add('addresses[type eq "work" and country eq "DE"].locality', 'Berlin')],
        expected((d) => { d.addresses = [{ type: 'work', country: 'DE', locality: 'Berlin' }]; })],
    ]);
  });

  describe('enterprise extension attributes (full URN paths)', () => {
    runSuccess([
      ['replace department', [replace(`${ENT}:department`, 'Ops')], expected((d) => { d[ENT].department = 'Ops'; })],
      ['add costCenter', [add(`${ENT}:costCenter`, 'CC-1')], expected((d) => { d[ENT].costCenter = 'CC-1'; })],
      ['remove department', [remove(`${ENT}:department`)], expected((d) => { d[ENT] = { manager: { value: 'm-1' } }; })],
      ['replace manager.value', [replace(`${ENT}:manager.value`, 'm-2')], expected((d) => { d[ENT].manager = { value: 'm-2' }; })],
      ['add manager as a complex value', [add(`${ENT}:manager`, { value: 'm-3' })], expected((d) => { d[ENT].manager = { value: 'm-3' }; })],
      ['remove manager.value removes the emptied manager', [remove(`${ENT}:manager.value`)], expected((d) => { d[ENT] = { department: 'Sales' }; })],
      ['removing the last extension attribute removes the extension object', [remove(`${ENT}:department`), remove(`${ENT}:manager.value`)],
        expected((d) => { delete d[ENT]; })],
      ['the URN matches in any case', [replace(`${ENT.toLowerCase()}:DEPARTMENT`, 'Legal')], expected((d) => { d[ENT].department = 'Legal'; })],
    ]);
  });

  describe('the whole extension URN as path', () => {
    runSuccess([
      ['add merges the object into the extension', [add(ENT, { costCenter: 'CC-2' })], expected((d) => { d[ENT].costCenter = 'CC-2'; })],
      ['replace replaces the named attributes and keeps the others', [replace(ENT, { department: 'HR', manager: { value: 'm-9' } })],
        expected((d) => { d[ENT] = { department: 'HR', manager: { value: 'm-9' } }; })],
      ['remove drops the whole extension', [remove(ENT)], expected((d) => { delete d[ENT]; })],
    ]);
    it('add on a user without the extension creates it', () => {
      const { [ENT]: _ext, ...doc } = base();
      expect(applyPatch(USER_RESOURCE, doc, [add(ENT, { division: 'North' })])).to.deep.equal({ ...doc, [ENT]: { division: 'North' } });
    });
    it('removing an extension attribute the user does not have leaves no empty extension', () => {
      const { [ENT]: _ext, ...doc } = base();
      expect(applyPatch(USER_RESOURCE, doc, [remove(`${ENT}:manager.value`), remove(`${ENT}:department`)])).to.deep.equal(doc);
    });
  });

  describe('several operations apply in order', () => {
    runSuccess([
      ['add then replace then remove', [add('nickName', 'a'), replace('nickName', 'b'), remove('title'), add('title', 'Dr')],
        expected((d) => { d.nickName = 'b'; d.title = 'Dr'; })],
      ['remove a value, then add it back changed', [remove('emails[type eq "home"]'), add('emails', [{ value: 'new@home.example', type: 'home' }])],
        expected((d) => { d.emails[1] = { value: 'new@home.example', type: 'home' }; })],
    ]);
  });

  describe('errors', () => {
    runFailure([
      ['replace id is a mutability error', [replace('id', 'other')], 'mutability', /^operation 1 \(replace id\): "id" is read-only$/],
      ['replace meta.created is a mutability error', [replace('meta.created', '2020-01-01T00:00:00Z')], 'mutability', /"meta\.created" is read-only/],
      ['add groups is a mutability error', [add('groups', [{ value: 'g1' }])], 'mutability', /"groups" is read-only/],
      ['replace manager.displayName is a mutability error', [replace(`${ENT}:manager.displayName`, 'Boss')], 'mutability', /"manager\.displayName" is read-only/],
      ['an id key in a value without path is a mutability error', [replace(undefined, { id: 'x', displayName: 'y' })], 'mutability', /"id" is read-only/],
      ['an unknown attribute is invalidPath', [replace('nope', 'x')], 'invalidPath', /no attribute "nope" in User/],
      ['an unknown sub-attribute is invalidPath', [replace('name.nope', 'x')], 'invalidPath', /no attribute "name\.nope"/],
      ['an unknown schema URN is invalidPath', [add('urn:example:unknown:2.0:User:nickName', 'x')], 'invalidPath', /no attribute/],
      ['an unknown sub-attribute after a value filter is invalidPath', [replace('emails[type eq "work"].nope', 'x')], 'invalidPath', /no attribute/],
      ['an unknown key in a value without path is invalidPath', [add(undefined, { nickName: 'n', bogus: 1 })], 'invalidPath', /no attribute "bogus"/],
      ['a filter missing its value is invalidPath', [replace('emails[type eq]', 'x')], 'invalidPath', /Expected a value/],
      ['an unclosed filter is invalidPath', [replace('emails[type eq "work"', 'x')], 'invalidPath', /^operation 1 \(replace emails\[type eq "work"\): /],
      ['a filter on an unknown sub-attribute is invalidPath', [replace('emails[kind eq "work"].value', 'x')], 'invalidPath', /"kind" is not a sub-attribute of emails/],
      ['a filter on a single-valued attribute is invalidPath', [replace('nickName[value eq "x"]', 'y')], 'invalidPath', /not multi-valued/],
      ['remove without path is noTarget', [remove()], 'noTarget', /remove needs a path/],
      ['replace with a non-equality filter that matches nothing is noTarget', [replace('emails[type sw "oth"].value', 'x')], 'noTarget', /no value of emails matches the filter/],
      ['replace with an "or" filter that matches nothing is noTarget', [replace('emails[type eq "a" or type eq "b"]', { value: 'x' })], 'noTarget', /no value of emails matches/],
      ['replace with a "pr" filter that matches nothing is noTarget', [replace('emails[display pr].display', 'x')], 'noTarget', /no value of emails matches/],
      ['a string for a complex attribute is invalidValue', [replace('name', 'Barbara Jensen')], 'invalidValue', /name is complex and takes an object value/],
      ['a string for one value of a multi-valued attribute is invalidValue', [replace('emails[type eq "work"]', 'x@example.com')], 'invalidValue', /takes an object value/],
      ['a non-object value without path is invalidValue', [add(undefined, 'x')], 'invalidValue', /needs an object value/],
      ['an array for the whole extension is invalidValue', [add(ENT, [{ department: 'x' }])], 'invalidValue', /takes an object value/],
      ['add without a value is invalidValue', [{ op: 'add', path: 'nickName' }], 'invalidValue', /add needs a value/],
      ['the failing operation is named by its position, and nothing of the earlier ones survives', [replace('displayName', 'changed'), remove('emails'), replace('id', 'x')],
        'mutability', /^operation 3 \(replace id\): /],
    ]);
  });

  describe('Group documents', () => {
    it('replaces displayName and externalId of a group', () => {
      const doc = { schemas: [GROUP], displayName: 'Admins' };
      expect(applyPatch(GROUP_RESOURCE, doc, [replace('displayName', 'Operators'), add('externalId', 'g-ext')]))
        .to.deep.equal({ schemas: [GROUP], displayName: 'Operators', externalId: 'g-ext' });
    });
    it('refuses the user-only attribute userName on a group with invalidPath', () => {
      expect(() => applyPatch(GROUP_RESOURCE, { schemas: [GROUP], displayName: 'A' }, [replace('userName', 'x')]))
        .to.throw(ScimError, /no attribute "userName" in Group/).with.property('scimType', 'invalidPath');
    });
  });
});
