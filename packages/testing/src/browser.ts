import { chromium, type Browser, type Page } from 'playwright-core';
import { requireBinary } from './binaries.js';

/**
 * Debian's Chromium, headless, with the background services off: this
 * machine's network is closed and they would only fail (never a downloaded browser).
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: requireBinary('chromium'),
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
}

/** Runs `fn` on a fresh page in its own context, collecting uncaught page errors; always closes it. */
export async function withPage(
  browser: Browser,
  fn: (page: Page, errors: string[]) => Promise<void>,
  { width = 1280, height = 900 }: { width?: number; height?: number } = {},
): Promise<void> {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await fn(page, errors);
  } finally {
    await context.close();
  }
}
