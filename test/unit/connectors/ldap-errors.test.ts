import { expect } from 'chai';
import {
  AlreadyExistsError, BusyError, InsufficientAccessError, InvalidCredentialsError, NoSuchObjectError, ObjectClassViolationError,
  TimeLimitExceededError, UnavailableError, UnknownStatusCodeError,
} from 'ldapts';
import { asResultError, hasCode, LdapResultError } from '../../../connectors/ldap/directory.js';
import { DnSyntaxError } from '../../../connectors/ldap/dn.js';
import { LdapTransportError, toConnectorError } from '../../../connectors/ldap/errors.js';
import { ConnectorError } from '../../../src/provisioning/connector.js';

describe('LDAP failures as connector errors', () => {
  it('keeps the server\'s diagnostic text and the result code from an ldapts error', () => {
    const err = asResultError('modify cn=eng,ou=groups,dc=example,dc=com', new ObjectClassViolationError("object class 'groupOfNames' requires attribute 'member'"));
    expect(err).to.be.instanceOf(LdapResultError);
    expect((err as LdapResultError).code).to.equal(65);
    expect((err as LdapResultError).message).to.equal("modify cn=eng,ou=groups,dc=example,dc=com answered 65 objectClassViolation: object class 'groupOfNames' requires attribute 'member'");
    expect(hasCode(err, 16, 65)).to.equal(true);
    expect(hasCode(err, 68)).to.equal(false);
  });

  it('says nothing more when the server sent no text', () => {
    const err = asResultError('bind as cn=admin,dc=example,dc=com', new InvalidCredentialsError('')) as LdapResultError;
    expect(err.message).to.equal('bind as cn=admin,dc=example,dc=com answered 49 invalidCredentials');
  });

  it('leaves anything that is not a result (a socket failure) as it is', () => {
    const socketError = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:389'), { code: 'ECONNREFUSED' });
    expect(asResultError('add x', socketError)).to.equal(socketError);
  });

  const retryable: Array<[string, Error]> = [
    ['busy (51)', new BusyError('too many operations')],
    ['unavailable (52)', new UnavailableError('shutting down')],
    ['other (80)', new UnknownStatusCodeError(80, 'internal error')],
    ['timeLimitExceeded (3)', new TimeLimitExceededError('too slow')],
  ];
  for (const [what, ldaptsError] of retryable) {
    it(`calls ${what} retryable`, () => {
      const err = toConnectorError('dir', 'create', asResultError('add uid=a,ou=people', ldaptsError));
      expect(err.retryable).to.equal(true);
      expect(err.message).to.match(/^dir: create failed: add uid=a,ou=people answered \d+/);
    });
  }

  const permanent: Array<[string, Error]> = [
    ['noSuchObject (32)', new NoSuchObjectError('no such parent')],
    ['objectClassViolation (65)', new ObjectClassViolationError('missing sn')],
    ['insufficientAccessRights (50)', new InsufficientAccessError('no write access to parent')],
    ['invalidCredentials (49)', new InvalidCredentialsError('')],
    ['entryAlreadyExists (68) where it is not expected', new AlreadyExistsError('exists')],
  ];
  for (const [what, ldaptsError] of permanent) {
    it(`calls ${what} permanent, with the server's text`, () => {
      const err = toConnectorError('dir', 'update', asResultError('modify uid=a,ou=people', ldaptsError));
      expect(err.retryable).to.equal(false);
      expect(err.message).to.include('modify uid=a,ou=people answered');
    });
  }

  it('calls a lost or refused connection retryable, naming the cause', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:389'), { code: 'ECONNREFUSED' });
    const err = toConnectorError('dir', 'create', new LdapTransportError('ldap://127.0.0.1:389', cause));
    expect(err.retryable).to.equal(true);
    expect(err.message).to.equal('dir: create failed: ldap://127.0.0.1:389 unreachable: ECONNREFUSED');
    const closed = new LdapTransportError('ldap://h', new Error('Connection closed before message response was received. Message type: AddRequest (0x68)\nmore'));
    expect(closed.message).to.equal('ldap://h unreachable: Connection closed before message response was received. Message type: AddRequest (0x68)');
  });

  it('calls a malformed account key permanent', () => {
    expect(toConnectorError('dir', 'get', new DnSyntaxError('nope', 0, 'attribute type expected')).retryable).to.equal(false);
  });

  it('passes a ConnectorError through unchanged', () => {
    const original = new ConnectorError('dir: account a does not exist', false);
    expect(toConnectorError('dir', 'enable', original)).to.equal(original);
  });
});
