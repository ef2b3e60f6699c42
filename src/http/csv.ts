import type { Response } from 'express';
import { setImmediate as nextTurn } from 'node:timers/promises';

/** One cell before encoding: text, a number, a time (written as ISO 8601 UTC) or nothing (an empty cell). */
export type CsvValue = string | number | Date | null | undefined;

/**
 * A spreadsheet runs a cell that starts with one of these as a formula (`=HYPERLINK(…)`, `+cmd|…`, `@SUM(…)`); tab
 * and carriage return are in the list because some spreadsheets skip them before looking for `=`. OWASP's
 * CSV-injection advice: prefix such a cell with a single quote, so it is shown as the text it is.
 */
const FORMULA_START = /^[=+\-@\t\r]/;
/** RFC 4180 §2.6: a field holding a double quote, a comma, CR or LF is enclosed in double quotes. */
const NEEDS_QUOTES = /[",\r\n]/;

/**
 * One cell, RFC 4180-quoted, with formula injection defused. Lead names and emails are whatever someone typed into a
 * Kartra checkout, so every text cell is treated as hostile; numbers are ours and written as they are.
 */
export function csvCell(value: CsvValue): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  let text = value instanceof Date ? value.toISOString() : value;
  if (FORMULA_START.test(text)) text = `'${text}`;
  // §2.7: a double quote inside a quoted field is written twice.
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One record; RFC 4180 §2.1 ends every line, the last included, with CRLF. */
export function csvLine(values: readonly CsvValue[]): string {
  return `${values.map(csvCell).join(',')}\r\n`;
}

export interface CsvDownload {
  /** Offered to the browser as the file name; ASCII letters, digits, dot, dash and underscore only. */
  filename: string;
  header: readonly string[];
  /** Rows in batches, each batch one keyset page read from the domain; pulled only as fast as the client reads. */
  batches: AsyncIterable<readonly (readonly CsvValue[])[]>;
}

/** Resolves once the response may take more, or once the client has gone (then 'drain' would never come). */
function writable(res: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * Streams a CSV download. Memory stays at about one batch whatever the row count: the next page is read only after
 * the previous one was handed to the socket (`write` returning false means wait for 'drain'), nothing more is read
 * once the client has disconnected, and other requests are served between pages.
 *
 * The headers go out with the first batch, not before it: if reading the first page fails, the error handler can
 * still answer with a proper error page instead of a download. A failure after that can no longer change the status,
 * so it propagates and Express cuts the connection: the client sees an interrupted download, never a file that looks
 * complete but is not.
 */
export async function streamCsv(res: Response, download: CsvDownload): Promise<void> {
  if (!/^[A-Za-z0-9._-]{1,200}$/.test(download.filename)) throw new Error(`unsafe CSV file name: ${download.filename}`);
  let clientGone = false;
  const markGone = () => {
    clientGone = true;
  };
  res.on('close', markGone);
  try {
    let started = false;
    const start = () => {
      res.status(200);
      res.setHeader('Content-Type', 'text/csv; charset=utf-8');
      res.setHeader('Content-Disposition', `attachment; filename="${download.filename}"`);
      // The rows are member data: no cache, shared or private, may keep them.
      res.setHeader('Cache-Control', 'no-store');
      started = true;
      // A byte order mark: without it, Excel reads a UTF-8 CSV as the local code page and garbles every accented name.
      return `\uFEFF${csvLine(download.header)}`;
    };
    for await (const batch of download.batches) {
      if (clientGone) return;
      let chunk = started ? '' : start();
      for (const row of batch) chunk += csvLine(row);
      if (!res.write(chunk)) await writable(res);
      // Then the event loop gets a turn before the next page. On SQLite the queries are synchronous, and while the
      // kernel takes each chunk at once, 'drain' comes on the next tick, not the next turn: a long export would
      // otherwise hold off every other request (webhooks included) until its last row.
      await nextTurn();
      if (clientGone) return;
    }
    if (!started) res.write(start());
    res.end();
  } finally {
    res.off('close', markGone);
  }
}
