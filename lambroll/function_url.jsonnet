// lambroll Function URL definition: NONE auth (otelvault checks its own
// keys) unless OTELVAULT_URL_AUTH_TYPE=AWS_IAM. CORS stays off.
local env = std.native('env');

{
  Config: {
    AuthType: env('OTELVAULT_URL_AUTH_TYPE', 'NONE'),
  },
}
