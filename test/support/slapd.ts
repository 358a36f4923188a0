/*
 * A private OpenLDAP server for a test file: slapd from a temp dir on a free loopback port, with
 * the schema and overlays a real directory of people and groups has (inetOrgPerson, memberOf on
 * groupOfNames and groupOfUniqueNames, referential integrity, password policy for account
 * locks). It can be stopped and restarted on the same data and port, to test what connectors do
 * when the server goes away. Every slapd started here dies with the test process.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'ldapts';
import { freePort } from './ports.js';

const SLAPD = '/usr/sbin/slapd';
const SLAPADD = '/usr/sbin/slapadd';
const SLAPTEST = '/usr/sbin/slaptest';
const OPENSSL = '/usr/bin/openssl';
const SCHEMA_DIR = '/etc/ldap/schema';
const MODULE_DIR = '/usr/lib/ldap';
const MODULES = ['back_mdb', 'memberof', 'refint', 'ppolicy'];

const BASE_DN = 'dc=example,dc=com';
/** What a group keeps when its last member goes (slapo-refint's refint_nothing; the LDAP connector's default emptyGroupMember). */
const PLACEHOLDER = 'cn=nobody';

export interface SlapdServer {
  url: string;
  /** the rootdn: not limited by ACLs or size limits */
  bindDn: string;
  bindPassword: string;
  baseDn: string;
  peopleDn: string;
  groupsDn: string;
  disabledDn: string;
  /** the member slapd's referential integrity leaves in a group whose last member it removes */
  emptyGroupMember: string;
  /** the password policy that makes pwdAccountLockedTime lock an account */
  policyDn: string;
  port: number;
  /** ldaps:// on a second port, when started with `tls` */
  ldapsUrl?: string;
  /** the self-signed certificate slapd presents (for 127.0.0.1), to trust as a CA; with `tls` */
  caFile?: string;
  dataDir: string;
  /** stops slapd (SIGTERM, as an operator's restart would) and waits until it has exited */
  stop(): Promise<void>;
  /** starts slapd again on the same data and port; resolves when it answers */
  restart(): Promise<void>;
  /** stops slapd and removes its files */
  close(): Promise<void>;
}

export interface SlapdOptions {
  /** the rootdn's password (random by default) */
  bindPassword?: string;
  /** also serve LDAPS and StartTLS with a fresh self-signed certificate for 127.0.0.1 (needs openssl) */
  tls?: boolean;
}

const running = new Set<ChildProcess>();
const dirs = new Set<string>();
let exitHookInstalled = false;

/** Kills every slapd this process started, and removes their files, when the process ends. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
}

function missingPieces(): string[] {
  const missing = [SLAPD, SLAPADD, SLAPTEST, OPENSSL].filter((f) => !existsSync(f));
  for (const schema of ['core', 'cosine', 'nis', 'inetorgperson']) {
    if (!existsSync(join(SCHEMA_DIR, `${schema}.schema`))) missing.push(join(SCHEMA_DIR, `${schema}.schema`));
  }
  for (const module of MODULES) if (!existsSync(join(MODULE_DIR, `${module}.so`))) missing.push(join(MODULE_DIR, `${module}.so`));
  return missing;
}

/** Makes sure slapd, its tools, schemas and modules (and openssl, for test certificates) are installed, installing Debian's packages if not. */
export function ensureSlapdInstalled(): void {
  if (missingPieces().length === 0) return;
  process.stderr.write('[test services] slapd not found: installing slapd, ldap-utils and openssl from Debian packages\n');
  try {
    // Without this the package asks for a domain and an admin password, and creates a database we do not use.
    execFileSync('debconf-set-selections', { input: 'slapd slapd/no_configuration boolean true\n', stdio: ['pipe', 'ignore', 'pipe'] });
    execFileSync('apt-get', ['update'], { stdio: 'ignore' });
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'slapd', 'ldap-utils', 'openssl'], {
      stdio: 'ignore',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch (err) {
    throw new Error(`cannot install slapd with apt-get (${(err as Error).message.split('\n')[0]}); install the Debian packages slapd, ldap-utils and openssl (as root)`);
  }
  const still = missingPieces();
  if (still.length > 0) throw new Error(`slapd is installed but these are missing: ${still.join(', ')}`);
}

/** A self-signed certificate for 127.0.0.1 and localhost, valid for two days: cert.pem and key.pem in dir. */
function makeCertificate(dir: string): void {
  if (!existsSync(OPENSSL)) throw new Error(`${OPENSSL} is missing: install the Debian package openssl for the TLS tests`);
  run(OPENSSL, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
}

function slapdConf(dir: string, password: string, tls: boolean): string {
  const tlsLines = tls ? `TLSCertificateFile ${dir}/cert.pem\nTLSCertificateKeyFile ${dir}/key.pem\n` : '';
  return `${['core', 'cosine', 'nis', 'inetorgperson'].map((s) => `include ${SCHEMA_DIR}/${s}.schema`).join('\n')}
${tlsLines}modulepath ${MODULE_DIR}
${MODULES.map((m) => `moduleload ${m}`).join('\n')}
pidfile ${dir}/slapd.pid
argsfile ${dir}/slapd.args

database mdb
suffix "${BASE_DN}"
rootdn "cn=admin,${BASE_DN}"
rootpw ${password}
directory ${dir}/data
# 4 GiB of address space (the file grows as needed): the benchmark loads 100,000 people.
maxsize 4294967296
# Test data: no fsync per write.
dbnosync
index objectClass eq
index uid,mail,cn,employeeNumber eq
index member,uniqueMember eq

# memberOf on people for both group classes, kept right when members are renamed or deleted.
overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE
overlay memberof
memberof-group-oc groupOfUniqueNames
memberof-member-ad uniqueMember
memberof-memberof-ad memberOf
memberof-refint TRUE

overlay refint
refint_attributes member uniqueMember
refint_nothing ${PLACEHOLDER}

# pwdAccountLockedTime locks an account only under a policy with pwdLockout.
overlay ppolicy
ppolicy_default cn=default,ou=policies,${BASE_DN}
`;
}

const BASE_LDIF = `dn: ${BASE_DN}
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,${BASE_DN}
objectClass: organizationalUnit
ou: people

dn: ou=groups,${BASE_DN}
objectClass: organizationalUnit
ou: groups

dn: ou=disabled,${BASE_DN}
objectClass: organizationalUnit
ou: disabled

dn: ou=policies,${BASE_DN}
objectClass: organizationalUnit
ou: policies

dn: cn=default,ou=policies,${BASE_DN}
objectClass: organizationalRole
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdLockout: TRUE
`;

/** Whether the server accepts a bind; false while it is not listening yet. */
async function answers(url: string, bindDn: string, password: string): Promise<boolean> {
  const client = new Client({ url, timeout: 1000, connectTimeout: 1000 });
  try {
    await client.bind(bindDn, password);
    return true;
  } catch {
    return false;
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

function run(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`${cmd} ${args.join(' ')} failed${stderr ? `: ${stderr.split('\n').slice(-5).join(' / ')}` : ''}`);
  }
}

/** Starts a private slapd with an empty directory (base, ou=people, ou=groups, ou=disabled); resolves when it answers. */
export async function startSlapd(options: SlapdOptions = {}): Promise<SlapdServer> {
  ensureSlapdInstalled();
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), 'iam-test-slapd-'));
  dirs.add(dir);
  mkdirSync(join(dir, 'data'));
  const bindPassword = options.bindPassword ?? randomBytes(12).toString('hex');
  const bindDn = `cn=admin,${BASE_DN}`;
  const conf = join(dir, 'slapd.conf');
  const tls = options.tls === true;
  if (tls) makeCertificate(dir);
  writeFileSync(conf, slapdConf(dir, bindPassword, tls), { mode: 0o600 });
  writeFileSync(join(dir, 'base.ldif'), BASE_LDIF);
  run(SLAPTEST, ['-u', '-f', conf]);
  run(SLAPADD, ['-f', conf, '-l', join(dir, 'base.ldif')]);
  const port = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  const ldapsUrl = tls ? `ldaps://127.0.0.1:${await freePort()}` : undefined;
  let child: ChildProcess | undefined;
  let output = '';

  const start = async () => {
    output = '';
    // -d 0 keeps slapd in the foreground as our child; setpriv makes the kernel kill it if this process dies without cleaning up.
    const args = ['-f', conf, '-h', ldapsUrl ? `${url}/ ${ldapsUrl}/` : `${url}/`, '-d', '0'];
    const proc = existsSync('/usr/bin/setpriv') ? spawn('/usr/bin/setpriv', ['--pdeathsig', 'KILL', SLAPD, ...args]) : spawn(SLAPD, args);
    child = proc;
    running.add(proc);
    proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    proc.once('exit', () => running.delete(proc));
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`slapd exited during start-up (code ${proc.exitCode ?? proc.signalCode}): ${output.trim().split('\n').slice(-5).join(' / ')}`);
      }
      if (await answers(url, bindDn, bindPassword)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`slapd on ${url} did not answer within 15 s: ${output.trim().split('\n').slice(-5).join(' / ')}`);
  };

  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await start();
  } catch (err) {
    await stop();
    rmSync(dir, { recursive: true, force: true });
    dirs.delete(dir);
    throw err;
  }

  return {
    url,
    bindDn,
    bindPassword,
    baseDn: BASE_DN,
    peopleDn: `ou=people,${BASE_DN}`,
    groupsDn: `ou=groups,${BASE_DN}`,
    disabledDn: `ou=disabled,${BASE_DN}`,
    emptyGroupMember: PLACEHOLDER,
    policyDn: `cn=default,ou=policies,${BASE_DN}`,
    port,
    ldapsUrl,
    caFile: tls ? join(dir, 'cert.pem') : undefined,
    dataDir: dir,
    stop,
    async restart() {
      await stop();
      await start();
    },
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
  };
}
