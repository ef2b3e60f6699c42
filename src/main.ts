import { createServer } from 'node:http';
import { composeApp } from './compose';
import { loadConfig } from './config';

/** The only file that reads process.env, listens, and handles signals. */
async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const composed = await composeApp(config);
  const { app, logger } = composed;
  const server = createServer(
    {
      requestTimeout: config.requestTimeoutSeconds * 1000,
      headersTimeout: config.headersTimeoutSeconds * 1000,
      // Node checks those timeouts on this interval (default 30 s, longer than the timeouts themselves).
      connectionsCheckingInterval: 1000,
    },
    app,
  );
  server.listen(config.port, config.host, () => {
    logger.info({ port: config.port, engine: composed.database.engine, database: composed.database.location, publicUrl: config.publicUrl }, 'kartra-access listening');
  });
  server.on('error', (error) => {
    logger.fatal({ err: error.message }, 'server failed');
    process.exit(1);
  });
  composed.startSweep();
  composed.startOutbox();

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    // Stop accepting, let in-flight requests finish, then close the database; force after the timeout.
    const force = setTimeout(() => {
      logger.warn('shutdown timed out; closing connections');
      server.closeAllConnections();
    }, config.shutdownTimeoutSeconds * 1000);
    force.unref();
    server.close(() => {
      void composed.close().finally(() => {
        logger.info('stopped');
        process.exit(0);
      });
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  // Start-up failed (bad configuration, a database that does not answer): say why on stderr and exit non-zero.
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
