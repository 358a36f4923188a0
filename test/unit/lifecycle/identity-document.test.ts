import { expect } from 'chai';
import { loadHrMapping } from '../../../src/lifecycle/hr-feed/mapping.js';
import { readHrFeedAll } from '../../../src/lifecycle/hr-feed/read.js';
import type { HrRecord } from '../../../src/lifecycle/hr-record.js';
import { identityDocument } from '../../../src/lifecycle/identity-document.js';
import { ENTERPRISE_SCHEMA, USER_SCHEMA } from '../../../src/scim/schema.js';
import { validateUser } from '../../../src/scim/validate.js';

const FULL: HrRecord = {
  row: 7,
  employeeId: 'E100042',
  givenName: 'Zoë',
  familyName: "O'Brien-Núñez",
  preferredName: 'Zo',
  email: 'zoe.obrien@example.com',
  department: 'Engineering',
  title: 'Staff Engineer',
  managerEmployeeId: 'E100002',
  location: 'São Paulo',
  costCenter: 'CC-1000',
  employmentType: 'Contractor',
  status: 'active',
  hireDate: '2024-03-01',
  terminationDate: null,
  extra: { githubLogin: 'zo-obrien' },
};

const MINIMAL: HrRecord = {
  ...FULL,
  preferredName: null, department: null, title: null, managerEmployeeId: null, location: null, costCenter: null,
  employmentType: null, hireDate: null, extra: {},
};

describe('identityDocument', () => {
  it('describes a person as a SCIM User with the enterprise extension', () => {
    expect(identityDocument(FULL, 'id-of-manager')).to.deep.equal({
      schemas: [USER_SCHEMA, ENTERPRISE_SCHEMA],
      externalId: 'E100042',
      userName: 'zoe.obrien@example.com',
      name: { givenName: 'Zoë', familyName: "O'Brien-Núñez", formatted: "Zoë O'Brien-Núñez" },
      displayName: "Zo O'Brien-Núñez",
      title: 'Staff Engineer',
      userType: 'Contractor',
      active: true,
      emails: [{ value: 'zoe.obrien@example.com', type: 'work', primary: true }],
      addresses: [{ type: 'work', locality: 'São Paulo', primary: true }],
      [ENTERPRISE_SCHEMA]: { employeeNumber: 'E100042', costCenter: 'CC-1000', department: 'Engineering', manager: { value: 'id-of-manager' } },
    });
  });

  it('leaves out what HR left empty, and the manager until one is resolved', () => {
    expect(identityDocument(MINIMAL)).to.deep.equal({
      schemas: [USER_SCHEMA, ENTERPRISE_SCHEMA],
      externalId: 'E100042',
      userName: 'zoe.obrien@example.com',
      name: { givenName: 'Zoë', familyName: "O'Brien-Núñez", formatted: "Zoë O'Brien-Núñez" },
      displayName: "Zoë O'Brien-Núñez",
      active: true,
      emails: [{ value: 'zoe.obrien@example.com', type: 'work', primary: true }],
      [ENTERPRISE_SCHEMA]: { employeeNumber: 'E100042' },
    });
    expect(identityDocument(FULL)[ENTERPRISE_SCHEMA]).to.not.have.property('manager');
  });

  it('is active for active and leave, inactive when terminated', () => {
    expect(identityDocument({ ...FULL, status: 'active' }).active).to.equal(true);
    expect(identityDocument({ ...FULL, status: 'leave' }).active).to.equal(true);
    expect(identityDocument({ ...FULL, status: 'terminated', terminationDate: '2026-01-05' }).active).to.equal(false);
  });

  it('passes SCIM User validation unchanged, to the byte', () => {
    for (const [record, manager] of [[FULL, 'id-of-manager'], [MINIMAL, undefined], [{ ...FULL, status: 'terminated' as const }, undefined]] as const) {
      const doc = identityDocument(record, manager);
      expect(JSON.stringify(validateUser(doc))).to.equal(JSON.stringify(doc));
    }
  });

  it('gives byte-identical JSON for the same record, and for feeds that differ only in whitespace and case noise', async () => {
    expect(JSON.stringify(identityDocument(FULL, 'm'))).to.equal(JSON.stringify(identityDocument({ ...FULL, extra: {} }, 'm')));
    expect(JSON.stringify(identityDocument(structuredClone(FULL), 'm'))).to.equal(JSON.stringify(identityDocument(FULL, 'm')));
    const header = 'employee_id,first_name,last_name,preferred_name,work_email,department,title,manager_id,location,cost_center,employment_type,status,hire_date,termination_date,github_login';
    const clean = `${header}\nE1,Zoë,Núñez,,zoe.nunez@example.com,Engineering,Staff Engineer,,London,CC-1000,Employee,Active,2024-03-01,,\n`;
    const noisy = `${header}\r\nE1," Zoe\u0308 ", Núñez ,,ZOE.Nunez@Example.com ,Engineering, Staff  Engineer,,London,CC-1000,Employee,ACTIVE,2024-03-01,,\r\n`;
    const mapping = loadHrMapping();
    const [a] = (await readHrFeedAll(clean, { format: 'csv', mapping })).records;
    const [b] = (await readHrFeedAll(noisy, { format: 'csv', mapping })).records;
    expect(JSON.stringify(identityDocument(b!))).to.equal(JSON.stringify(identityDocument(a!)));
  });
});
