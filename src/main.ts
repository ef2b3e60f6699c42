import { composeApp } from './compose';
import { loadConfig } from './config';

/** The only file that reads process.env, listens, and handles signals. */
function main(): void {
  const config = loadConfig(process.env);
  const composed = composeApp(config);
  const { app, logger } = composed;
  const server = app.listen(config.port, config.host, () => {
    logger.info({ port: config.port, database: config.databasePath, publicUrl: config.publicUrl }, 'kartra-access listening');
  });
  server.on('error', (error) => {
    logger.fatal({ err: error.message }, 'server failed');
    process.exit(1);
  });
  composed.startSweep();

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
      composed.close();
      logger.info('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main();
