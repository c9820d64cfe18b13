/** Top-level help text. */
export const USAGE = `Usage: tuleap-realtime [--config=PATH]
       tuleap-realtime <command> [options]

Without a command, runs the relay. Without --config, runs in development mode:
127.0.0.1:4443 with a generated self-signed certificate and key under ssl/.

Commands:
  check-config --config=PATH   validate the configuration and TLS files, like nginx -t
  help                         this text

Exit codes: 0 success, 1 configuration or runtime error, 2 usage error.
`
