// A TypeScript integrator's journey through a client typed from the gateway's /openapi.json:
// openapi-typescript turns the document into types (api.d.ts, generated beside this file by
// the test), openapi-fetch makes the calls. tsc --strict checks every call, body and answer
// against the document; node then runs it against the embedded suite and prints what it saw.
import createClient from "openapi-fetch";
import type { components, paths } from "./api.js";

type Problem = components["schemas"]["Problem"];
type Seen = Record<string, unknown>;

async function journey(baseUrl: string, email: string, password: string): Promise<Seen> {
  const client = createClient<paths>({ baseUrl });
  const seen: Seen = {};

  const created = await client.POST("/api/v1/auth/register", {
    body: { email, password, full_name: "Ana Sousa" },
    params: { header: { "Idempotency-Key": `ts-${email}` } },
  });
  seen.register = created.response.status;
  seen.roles = created.data?.roles;

  const taken = await client.POST("/api/v1/auth/register", {
    body: { email, password, full_name: "Ana Again" },
  });
  const conflict: Problem | undefined = taken.error;
  seen.duplicate = [taken.response.status, conflict?.code, conflict?.status];

  const login = await client.POST("/api/v1/auth/login", { body: { email, password } });
  if (!login.data) throw new Error(`login failed: ${JSON.stringify(login.error)}`);
  const headers = { Authorization: `Bearer ${login.data.access_token}` };

  const updated = await client.PATCH("/api/v1/users/me", {
    headers,
    body: { full_name: "Ana Sousa Lima", timezone: "Europe/Lisbon" },
  });
  seen.update = [updated.response.status, updated.data?.full_name, updated.data?.timezone];

  const anonymous = await client.GET("/api/v1/users/me");
  seen.unauthenticated = [anonymous.response.status, anonymous.error?.code];

  const ids: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  for (;;) {
    const page = await client.GET("/api/v1/services", { params: { query: { limit: 4, cursor } } });
    if (!page.data) throw new Error(`discovery failed: ${JSON.stringify(page.error)}`);
    ids.push(...page.data.results.map((service) => service.id));
    pages += 1;
    if (!page.data.has_more || !page.data.next_cursor) break;
    cursor = page.data.next_cursor;
  }
  seen.discovery = { pages, ids };
  return seen;
}

const [baseUrl = "", email = "", password = ""] = process.argv.slice(2);
journey(baseUrl, email, password).then(
  (seen) => console.log(JSON.stringify(seen)),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
