import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../../src/config/index.js';

describe('configuration', () => {
  it('reads the shipped defaults', () => {
    const config = loadConfig({});
    expect(config.port).to.equal(8080);
    expect(config.databaseUrl).to.equal('sqlite:./data/iam.sqlite');
    expect(config.scim.maxPageSize).to.equal(1000);
  });

  it('lets environment variables override defaults, with numbers coerced', () => {
    const config = loadConfig({ IAM_PORT: '9090', IAM_DATABASE_URL: 'mysql://root@127.0.0.1:3306/iam', IAM_SCIM_BULK_MAX_OPERATIONS: '50' });
    expect(config.port).to.equal(9090);
    expect(config.databaseUrl).to.equal('mysql://root@127.0.0.1:3306/iam');
    expect(config.scim.bulkMaxOperations).to.equal(50);
  });

  it('lets a config file override defaults, and the environment override the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'iam-config-'));
    const file = join(dir, 'iam.json');
    writeFileSync(file, JSON.stringify({ port: 7000, logLevel: 'debug', scim: { defaultPageSize: 10 } }));
    const config = loadConfig({ IAM_CONFIG: file, IAM_PORT: '7001' });
    expect(config.port).to.equal(7001);
    expect(config.logLevel).to.equal('debug');
    expect(config.scim.defaultPageSize).to.equal(10);
    expect(config.scim.maxPageSize).to.equal(1000);
  });

  it('lists every problem at once, naming the variable each came from', () => {
    try {
      loadConfig({ IAM_PORT: 'eighty', IAM_LOG_LEVEL: 'loud', IAM_DATABASE_URL: 'postgres://x' });
      expect.fail('loadConfig accepted bad values');
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      const problems = (err as ConfigError).problems;
      expect(problems).to.have.length(3);
      expect(problems.join('\n')).to.include('port (from IAM_PORT)').and.include('logLevel (from IAM_LOG_LEVEL)').and.include('databaseUrl (from IAM_DATABASE_URL)');
    }
  });

  it('reports an unreadable config file', () => {
    expect(() => loadConfig({ IAM_CONFIG: '/nonexistent/iam.json' })).to.throw(ConfigError, 'cannot read config file /nonexistent/iam.json');
  });

  it('returns a frozen object', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).to.equal(true);
    expect(Object.isFrozen(config.scim)).to.equal(true);
  });
});
