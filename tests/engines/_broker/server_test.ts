import { assert, assertEquals, assertRejects } from "../../_assert.ts";
import { ConfigError } from "../../../core/errors.ts";
import {
  type BrokerServer,
  cannotReach,
  connectOrExplain,
  consumerName,
  errorText,
  redact,
} from "../../../engines/_broker/server.ts";

const server: BrokerServer = {
  kind: "Redis",
  variable: "REDIS_URL",
  address: "redis://me:secret@db:6379",
  fix: "check that redis-server runs there",
};

Deno.test("redact hides a URL's password and keeps the rest", () => {
  assertEquals(
    redact("amqp://guest:secret@host:5672/vhost"),
    "amqp://guest:***@host:5672/vhost",
  );
  assertEquals(redact("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
});

Deno.test("errorText quotes the first or the last error an AggregateError gathers", () => {
  const both = new AggregateError([new Error("first"), new Error("last")]);
  assertEquals(errorText(both), "first");
  assertEquals(errorText(both, "last"), "last");
  assertEquals(errorText(new TypeError("")), "TypeError");
  assertEquals(errorText("plain"), "plain");
});

Deno.test("cannotReach is a ConfigError naming the variable, the hidden address, why and the fix", () => {
  const cause = new Error("connection refused");
  const error = cannotReach(server, cause);
  assert(error instanceof ConfigError);
  assertEquals(
    error.message,
    "Cannot connect to Redis at REDIS_URL 'redis://me:***@db:6379': connection refused; check that redis-server runs there",
  );
  assertEquals(error.cause, cause);
  assertEquals(
    cannotReach({ ...server, verb: "reach" }, cause).message.slice(0, 15),
    "Cannot reach Re",
  );
});

Deno.test("connectOrExplain turns a failure into cannotReach's and lets a ConfigError through", async () => {
  assertEquals(await connectOrExplain(server, () => Promise.resolve(7)), 7);
  await assertRejects(
    () => connectOrExplain(server, () => Promise.reject(new Error("down"))),
    ConfigError,
    "Cannot connect to Redis at REDIS_URL 'redis://me:***@db:6379': down",
  );
  const own = new ConfigError("REDIS_STREAM", "bad stream");
  const thrown = await assertRejects(
    () => connectOrExplain(server, () => Promise.reject(own)),
    ConfigError,
  );
  assertEquals(thrown, own);
});

Deno.test("consumerName differs between two calls of one process", () => {
  const [a, b] = [consumerName(), consumerName()];
  assert(a !== b);
  assert(a.includes(`-${Deno.pid}-`), a);
});
