// The `pulse` tool on streams, sinks and dead letters: data written by the
// library (streams, a sink with pending and lag, dead letters) and by raw
// commands in Go Pulse's layout (a stream and a consumer group), read back
// as tables and as JSON.

#include <boost/test/unit_test.hpp>

#include <caf/all.hpp>

#include "pulse/actors/streaming/dead_letters.hpp"
#include "pulse/actors/streaming/read_reply.hpp"
#include "pulse/actors/streaming/sink.hpp"
#include "tests/support/collector.hpp"
#include "tests/tools/cli_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

// Go Pulse's layout, by raw commands: stream "go-orders" with 4 entries,
// group "go-sink" whose consumer read 3 (pending 3, lag 1).
void write_go_stream(client& c) {
  for (auto p : {"a", "b", "c", "d"})
    BOOST_REQUIRE(c("XADD", "pulse:stream:go-orders", "MAXLEN", "~", "1000",
                    "*", "n", "created", "p", p, "t", "eu"));
  BOOST_REQUIRE(c("XGROUP", "CREATE", "pulse:stream:go-orders", "go-sink",
                  "0"));
  BOOST_REQUIRE(c("XREADGROUP", "GROUP", "go-sink", "01HCONSUMERGO",
                  "COUNT", "3", "STREAMS", "pulse:stream:go-orders", ">"));
}

// A dead letter of stream "orders" as a sink writes it; returns its ID.
std::string add_dead_letter(client& c, const std::string& payload) {
  resp::value entry;
  entry.type = resp::kind::array;
  entry.elements.resize(2);
  entry.elements[0] = resp::value::make_bulk("1-" + payload);
  auto& f = entry.elements[1];
  f.type = resp::kind::array;
  for (auto& x : {std::string{"n"}, std::string{"created"},
                  std::string{"p"}, payload})
    f.elements.push_back(resp::value::make_bulk(x));
  auto id = c.call(detail::dead_letter_command(
    entry, dead_letters::key("orders:dead-letter"), "orders", "billing", 3,
    "boom: " + payload));
  BOOST_REQUIRE_MESSAGE(id, describe(id));
  return id->str;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(cli_streams, cli_fixture)

BOOST_AUTO_TEST_CASE(streams_lists_library_and_go_streams) {
  add("orders", "created", "1");
  add("orders", "created", "2");
  write_go_stream(redis());
  auto out = cli_ok({"streams"});
  BOOST_TEST(has(out, "STREAM"), out);
  BOOST_TEST(has(out, "LENGTH"), out);
  BOOST_TEST(has(out, "orders "), out);
  BOOST_TEST(has(out, "go-orders"), out);
  auto j = cli_json({"streams"});
  BOOST_REQUIRE_EQUAL(j.size(), 2u);
  BOOST_TEST(j[0]["name"] == "go-orders");
  BOOST_TEST(j[0]["length"] == 4);
  BOOST_TEST(j[0]["sinks"] == 1);
  BOOST_TEST(j[1]["name"] == "orders");
  BOOST_TEST(j[1]["length"] == 2);
  BOOST_TEST(j[1]["sinks"] == 0);
}

BOOST_AUTO_TEST_CASE(stream_shows_a_library_sink_with_pending_and_lag) {
  // A sink whose subscriber never acks reads 3 events (pending 3), then
  // stops; 5 more events arrive unread (lag 5).
  // Whether a connection's last command was XREADGROUP: the sink's read
  // connection (nothing else reads with a group here).
  auto reading = [&] {
    auto r = redis()("CLIENT", "LIST");
    return !r || r->str.find("cmd=xreadgroup") != std::string::npos;
  };
  sink_options o;
  o.block = 50ms;
  o.start = "0";
  o.ack_grace = 1h; // no reclaim while the test runs
  auto sink = spawn_sink(*rt, "billing", {"orders"}, o);
  BOOST_REQUIRE_MESSAGE(sink, describe(sink));
  auto box = std::make_shared<event_inbox>();
  auto sub = sys->spawn(collector, box, caf::actor{});
  (*self)
    ->request(*sink, 5s, sub_atom::value,
              caf::actor_cast<event_subscriber_actor>(sub))
    .receive([](bool) {}, [](caf::error& e) { BOOST_FAIL(render(e)); });
  for (auto p : {"1", "2", "3"})
    add("orders", "created", p);
  BOOST_REQUIRE(wait_until([&] {
    std::lock_guard<std::mutex> guard{box->mtx};
    return box->events.size() == 3;
  }));
  (*self)->send_exit(*sink, caf::exit_reason::user_shutdown);
  (*self)->send_exit(sub, caf::exit_reason::user_shutdown);
  (*self)->wait_for(*sink);
  // Once the sink's read connection is closed, no read in flight can take
  // the next events: they stay unread (lag).
  BOOST_REQUIRE(wait_until([&] { return !reading(); }));
  for (auto p : {"4", "5", "6", "7", "8"})
    add("orders", "created", p);
  auto j = cli_json({"stream", "orders"});
  BOOST_TEST(j["length"] == 8);
  BOOST_REQUIRE_EQUAL(j["sinks"].size(), 1u);
  auto& s = j["sinks"][0];
  BOOST_TEST(s["name"] == "billing");
  BOOST_TEST(s["pending"] == 3);
  BOOST_TEST(s["lag"] == 5);
  BOOST_REQUIRE_EQUAL(s["consumer_list"].size(), 1u);
  BOOST_TEST(s["consumer_list"][0]["pending"] == 3);
  BOOST_TEST(s["consumer_list"][0]["idle_ms"].get<int64_t>() >= 0);
  BOOST_TEST(j["warnings"].empty()); // lag 5 of max-len 1000
  auto out = cli_ok({"stream", "orders"});
  BOOST_TEST(has(out, "billing"), out);
  BOOST_TEST(has(out, "PENDING"), out);
  BOOST_TEST(has(out, "LAG"), out);
  BOOST_TEST(has(out, "IDLE"), out);
  BOOST_TEST(!has(out, "WARNING"), out);
  // Lag 5 of a max length of 6: the sink is about to lose events.
  out = cli_ok({"stream", "orders", "--max-len", "6"});
  BOOST_TEST(has(out, "WARNING: sink billing lags 5"), out);
  j = cli_json({"stream", "orders", "--max-len", "6"});
  BOOST_TEST(j["warnings"].size() == 1u);
}

BOOST_AUTO_TEST_CASE(stream_reads_a_go_consumer_group) {
  write_go_stream(redis());
  auto j = cli_json({"stream", "go-orders"});
  BOOST_TEST(j["length"] == 4);
  BOOST_REQUIRE_EQUAL(j["sinks"].size(), 1u);
  auto& s = j["sinks"][0];
  BOOST_TEST(s["name"] == "go-sink");
  BOOST_TEST(s["pending"] == 3);
  BOOST_TEST(s["lag"] == 1);
  BOOST_TEST(s["consumers"] == 1);
  BOOST_TEST(s["consumer_list"][0]["name"] == "01HCONSUMERGO");
  auto out = cli_ok({"stream", "go-orders"});
  BOOST_TEST(has(out, "go-sink"), out);
  BOOST_TEST(has(out, "01HCONSUMERGO"), out);
}

BOOST_AUTO_TEST_CASE(tail_prints_the_last_entries_with_a_topic_filter) {
  for (int i = 0; i < 6; ++i)
    add("orders", "created", "p" + std::to_string(i), i % 2 ? "eu" : "us");
  auto j = cli_json({"tail", "orders", "--count", "2"});
  BOOST_REQUIRE_EQUAL(j.size(), 2u);
  BOOST_TEST(j[0]["payload"] == "p4"); // oldest first
  BOOST_TEST(j[1]["payload"] == "p5");
  j = cli_json({"tail", "orders", "--topic", "eu", "--count", "10"});
  BOOST_REQUIRE_EQUAL(j.size(), 3u);
  BOOST_TEST(j[0]["payload"] == "p1");
  BOOST_TEST(j[2]["topic"] == "eu");
  auto out = cli_ok({"tail", "orders", "-n", "3"});
  BOOST_TEST(has(out, "PAYLOAD"), out);
  BOOST_TEST(has(out, "p5"), out);
  BOOST_TEST(!has(out, "p2"), out);
  // Go Pulse's entries read the same.
  write_go_stream(redis());
  j = cli_json({"tail", "go-orders"});
  BOOST_TEST(j.size() == 4u);
  BOOST_TEST(j[3]["payload"] == "d");
  BOOST_TEST(j[3]["topic"] == "eu");
}

BOOST_AUTO_TEST_CASE(tail_follow_prints_new_entries) {
  add("orders", "created", "old");
  auto args = endpoint();
  for (auto a : {"--json", "tail", "orders", "--count", "0", "--follow",
                 "--topic", "eu", "--max-events", "2"})
    args.emplace_back(a);
  cli_process p{args};
  // Adds until the follower saw two "eu" entries and exited (it may
  // start reading after some adds: those it never sees).
  auto deadline = std::chrono::steady_clock::now() + 20s;
  int i = 0;
  while (!p.done() && std::chrono::steady_clock::now() < deadline) {
    add("orders", "created", "us-" + std::to_string(i), "us");
    add("orders", "created", "eu-" + std::to_string(i++), "eu");
    std::this_thread::sleep_for(20ms);
  }
  auto r = p.wait(5s);
  BOOST_REQUIRE_MESSAGE(r.rc == 0, "rc " << r.rc << ": " << r.err);
  std::istringstream lines{r.out};
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);
    BOOST_TEST(j["topic"] == "eu");
    BOOST_TEST(j["payload"].get<std::string>().rfind("eu-", 0) == 0u);
    ++n;
  }
  BOOST_TEST(n == 2);
}

BOOST_AUTO_TEST_CASE(dead_letters_list_redrive_and_purge) {
  add("orders", "created", "0"); // the source stream exists
  auto a = add_dead_letter(redis(), "1");
  auto b = add_dead_letter(redis(), "2");
  add_dead_letter(redis(), "3");
  auto out = cli_ok({"dead-letters", "orders"});
  BOOST_TEST(has(out, "DELIVERIES"), out);
  BOOST_TEST(has(out, "boom: 2"), out);
  BOOST_TEST(has(out, "billing"), out);
  auto j = cli_json({"dead-letters", "orders"});
  BOOST_REQUIRE_EQUAL(j.size(), 3u);
  BOOST_TEST(j[0]["id"] == a);
  BOOST_TEST(j[0]["deliveries"] == 3);
  BOOST_TEST(j[0]["error"] == "boom: 1");
  BOOST_TEST(j[0]["original_id"] == "1-1");
  BOOST_TEST(j[0]["sink"] == "billing");
  BOOST_TEST(cli_json({"dead-letters", "orders", "--sink", "other"}).empty());
  // Redrive one by ID: back into "orders" as a new entry.
  j = cli_json({"dead-letters", "redrive", "orders", "--id", a});
  BOOST_TEST(j["moved"] == 1);
  BOOST_TEST(j["missing"] == 0);
  BOOST_TEST(redis()("XLEN", "pulse:stream:orders")->integer == 2);
  out = cli_ok({"dead-letters", "redrive", "orders", "--id", b});
  BOOST_TEST(has(out, "moved 1"), out);
  // Purge the rest.
  j = cli_json({"dead-letters", "purge", "orders", "--all"});
  BOOST_TEST(j["deleted"] == 1);
  BOOST_TEST(cli_json({"dead-letters", "orders"}).empty());
  // A selection is required.
  auto r = cli({"dead-letters", "redrive", "orders"});
  BOOST_TEST(r.rc == 1);
  BOOST_TEST(has(r.err, "--all"), r.err);
}

BOOST_AUTO_TEST_CASE(redrive_of_a_missing_id_moves_nothing) {
  add("orders", "created", "0");
  auto a = add_dead_letter(redis(), "1");
  auto j = cli_json({"dead-letters", "redrive", "orders", "--id", "1-1",
                     "--id", "not-an-id"});
  BOOST_TEST(j["moved"] == 0);
  BOOST_TEST(j["missing"] == 2);
  BOOST_TEST(redis()("XLEN", "pulse:stream:orders")->integer == 1);
  BOOST_TEST(redis()("XLEN", "pulse:stream:orders:dead-letter")->integer
             == 1);
  // By age: nothing is a day old.
  j = cli_json({"dead-letters", "redrive", "orders", "--older-than", "1d"});
  BOOST_TEST(j["moved"] == 0);
  BOOST_TEST(redis()("XLEN", "pulse:stream:orders")->integer == 1);
  BOOST_TEST(cli_json({"dead-letters", "orders"})[0]["id"] == a);
}

BOOST_AUTO_TEST_SUITE_END()
