/*
 * A headless Chromium for tests of the mail-link pages, driven by playwright-core. It is the
 * Debian package's browser (/usr/bin/chromium), installed by the global test setup when missing;
 * playwright-core downloads no browser of its own. Pages are tested with JavaScript switched off,
 * to prove they work as plain HTML forms.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';

// Headless in a container as root, and nothing that would reach outside the loopback address.
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run',
];

/** Installs Chromium from the Debian packages when /usr/bin/chromium is missing (as root); throws with the reason otherwise. */
export function ensureChromiumInstalled(): void {
  if (existsSync(CHROMIUM)) return;
  process.stderr.write('[test services] chromium not found: installing it from Debian packages\n');
  try {
    execFileSync('apt-get', ['update'], { stdio: 'ignore' });
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], {
      stdio: 'ignore',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch (err) {
    throw new Error(`cannot install chromium with apt-get (${(err as Error).message.split('\n')[0]}); install the Debian package chromium (as root)`);
  }
  if (!existsSync(CHROMIUM)) throw new Error(`chromium is installed but ${CHROMIUM} is missing`);
}

/** Launches headless Chromium. */
export async function launchBrowser(): Promise<Browser> {
  ensureChromiumInstalled();
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
}

/** A fresh browser context (no cookies, no cache) with JavaScript off. */
export function noScriptContext(browser: Browser): Promise<BrowserContext> {
  return browser.newContext({ javaScriptEnabled: false });
}
