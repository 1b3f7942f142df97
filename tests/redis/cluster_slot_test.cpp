// Unit tests of Redis Cluster slot computation (CRC16/XMODEM, hash tags)
// and of the key a command is routed by. No server needed. Check values:
// /work/shared/reference/production-redis.md §4.2 (verified there against
// CLUSTER KEYSLOT).

#include <boost/test/unit_test.hpp>

#include "pulse/actors/redis/cluster_slot.hpp"
#include "pulse/actors/redis/connect.hpp"
#include "pulse/actors/redis/cluster_topology.hpp"
#include "pulse/actors/redis/scan_walk.hpp"
#include "pulse/runtime/errors.hpp"

using namespace pulse;

BOOST_AUTO_TEST_SUITE(cluster_slot)

BOOST_AUTO_TEST_CASE(crc16_check_value) {
  BOOST_TEST(cluster::crc16("123456789") == 0x31C3);
  BOOST_TEST(cluster::crc16("") == 0);
}

BOOST_AUTO_TEST_CASE(slots_of_reference_keys) {
  BOOST_TEST(cluster::key_slot("foo") == 12182);
  BOOST_TEST(cluster::key_slot("bar") == 5061);
  BOOST_TEST(cluster::key_slot("{user1000}.following") == 3443);
  BOOST_TEST(cluster::key_slot("{user1000}.followers") == 3443);
  BOOST_TEST(cluster::key_slot("{}foo") == 9500);
  BOOST_TEST(cluster::key_slot("foo{}{bar}") == 8363);
  BOOST_TEST(cluster::key_slot("foo{{bar}}") == 4015);
  BOOST_TEST(cluster::key_slot("foo{bar}{zap}") == 5061);
  BOOST_TEST(cluster::key_slot("a}{b") == 11640);
}

BOOST_AUTO_TEST_CASE(hash_tags) {
  BOOST_TEST(cluster::hash_tag("foo") == "foo");
  BOOST_TEST(cluster::hash_tag("{pool}:jobs") == "pool");
  BOOST_TEST(cluster::hash_tag("{}x") == "{}x");
  BOOST_TEST(cluster::hash_tag("x{y}{z}") == "y");
  BOOST_TEST(cluster::hash_tag("x{") == "x{");
  BOOST_TEST(cluster::hash_tag(std::string_view{"a\0{b}", 5}) == "b");
  BOOST_TEST(cluster::same_slot({"{p}a", "{p}b", "{p}"}));
  BOOST_TEST(!cluster::same_slot({"foo", "bar"}));
  BOOST_TEST(cluster::same_slot({}));
}

BOOST_AUTO_TEST_CASE(keys_of_commands) {
  using v = std::vector<size_t>;
  auto pos = [](std::vector<std::string> args) {
    return cluster::key_positions(args);
  };
  BOOST_TEST((pos({"GET", "k"}) == v{1}));
  BOOST_TEST((pos({"set", "k", "v"}) == v{1}));
  BOOST_TEST((pos({"PING"}) == v{}));
  BOOST_TEST((pos({"PUBLISH", "ch", "x"}) == v{}));
  BOOST_TEST((pos({"EVALSHA", "abc", "2", "a", "b", "x"}) == v{3, 4}));
  BOOST_TEST((pos({"EVAL", "return 1", "0", "x"}) == v{}));
  BOOST_TEST((pos({"XREADGROUP", "GROUP", "g", "c", "COUNT", "10", "BLOCK",
                   "100", "STREAMS", "s1", "s2", ">", ">"})
              == v{9, 10}));
  BOOST_TEST((pos({"XREAD", "BLOCK", "0", "STREAMS", "s", "$"}) == v{4}));
  BOOST_TEST((pos({"BLMPOP", "1", "1", "q", "LEFT", "COUNT", "2"}) == v{3}));
  BOOST_TEST((pos({"BLPOP", "a", "b", "0"}) == v{1, 2}));
  BOOST_TEST((pos({"DEL", "a", "b"}) == v{1, 2}));
  BOOST_TEST((pos({"MSET", "a", "1", "b", "2"}) == v{1, 3}));
  BOOST_TEST((pos({"XGROUP", "CREATE", "s", "g", "$"}) == v{2}));
  BOOST_TEST((pos({"XINFO", "STREAM", "s"}) == v{2}));
  BOOST_TEST((cluster::command_slot(make_command("GET", "foo"))
              == std::optional<uint16_t>{12182}));
  BOOST_TEST(!cluster::command_slot(make_command("PING")));
}

BOOST_AUTO_TEST_CASE(serving_masters_skip_those_without_slots) {
  cluster::slot_table t;
  t.owner.assign(16384, -1);
  t.index_of("a:1");
  t.index_of("b:2"); // lost its slots (e.g. after a failover)
  t.index_of("c:3");
  for (size_t s = 0; s < 100; ++s)
    t.owner[s] = 2;
  for (size_t s = 100; s < 16384; ++s)
    t.owner[s] = 0;
  BOOST_TEST((t.serving() == std::vector<std::string>{"a:1", "c:3"}));
}

BOOST_AUTO_TEST_CASE(slot_replies_name_replicas_after_masters) {
  // [start, end, [ip, port, id], [ip, port, id]...] per range; an empty ip
  // is the answering host; a node master of one range and replica of
  // another (mid-failover) counts as master.
  auto node = [](const std::string& ip, int64_t port) {
    resp::value n;
    n.type = resp::kind::array;
    n.elements = {resp::value::make_bulk(ip), resp::value::make_integer(port),
                  resp::value::make_bulk("id")};
    return n;
  };
  auto range = [&](int64_t lo, int64_t hi, std::vector<resp::value> ns) {
    resp::value r;
    r.type = resp::kind::array;
    r.elements = {resp::value::make_integer(lo), resp::value::make_integer(hi)};
    for (auto& n : ns)
      r.elements.push_back(n);
    return r;
  };
  resp::value reply;
  reply.type = resp::kind::array;
  reply.elements = {range(0, 8000, {node("h", 1), node("", 4)}),
                    range(8001, 16383, {node("h", 2), node("h", 1),
                                        node("h", 5)})};
  auto t = cluster::parse_slots(reply, "d");
  BOOST_REQUIRE(t);
  BOOST_TEST((t->masters == std::vector<std::string>{"h:1", "h:2"}));
  BOOST_TEST((t->replicas == std::vector<std::string>{"d:4", "h:5"}));
  BOOST_TEST((t->nodes()
              == std::vector<std::string>{"h:1", "h:2", "d:4", "h:5"}));
}

BOOST_AUTO_TEST_CASE(cluster_connects_try_the_lost_node_last) {
  using v = std::vector<std::string>;
  // First connect: the seeds in order.
  BOOST_TEST((detail::cluster_candidates({"s:1", "s:2"}, {}, "")
              == v{"s:1", "s:2"}));
  // Later: the learned topology first, then seeds not in it, the lost
  // node last.
  BOOST_TEST((detail::cluster_candidates({"s:1", "s:9"},
                                         {"s:1", "m:2", "r:3"}, "s:1")
              == v{"m:2", "r:3", "s:9", "s:1"}));
}

BOOST_AUTO_TEST_CASE(scan_commands_and_replies) {
  scan_query q;
  q.pattern = "p:*";
  BOOST_TEST((detail::scan_command(q, "17").args
              == std::vector<std::string>{"SCAN", "17", "MATCH", "p:*",
                                          "COUNT", "1000"}));
  q.type = "stream";
  q.count = 5;
  BOOST_TEST((detail::scan_command(q, "0").args
              == std::vector<std::string>{"SCAN", "0", "MATCH", "p:*",
                                          "COUNT", "5", "TYPE", "stream"}));
  using v = resp::value;
  v reply;
  reply.type = resp::kind::array;
  v keys;
  keys.type = resp::kind::array;
  keys.elements = {v::make_bulk("b"), v::make_bulk("a")};
  reply.elements = {v::make_bulk("42"), keys};
  std::vector<std::string> out;
  auto next = detail::parse_scan_reply(reply, out);
  BOOST_REQUIRE(next);
  BOOST_TEST(*next == "42");
  BOOST_TEST((out == std::vector<std::string>{"b", "a"}));
  auto bad = detail::parse_scan_reply(v::make_bulk("x"), out);
  BOOST_REQUIRE(!bad);
  BOOST_TEST(code_of(bad.error()) == errc::protocol_error);
  scan_result r;
  r.keys = {"b", "a", "b"};
  detail::normalize(r);
  BOOST_TEST((r.keys == std::vector<std::string>{"a", "b"}));
}

BOOST_AUTO_TEST_CASE(a_scan_walk_follows_the_cursor_and_its_limit) {
  using v = resp::value;
  // A fake node: cursor 0 -> 1 -> 2 -> 0, one key per round.
  auto node = [](command cmd,
                 std::function<void(caf::expected<resp::value>)> k) {
    auto cur = std::stoi(cmd.args[1]);
    v reply;
    reply.type = resp::kind::array;
    v keys;
    keys.type = resp::kind::array;
    keys.elements = {v::make_bulk("k" + std::to_string(cur))};
    reply.elements = {v::make_bulk(std::to_string((cur + 1) % 3)), keys};
    k(std::move(reply));
  };
  caf::expected<scan_result> got{scan_result{}};
  detail::walk_scan(node, scan_query{},
                    [&](caf::expected<scan_result> r) { got = std::move(r); });
  BOOST_REQUIRE(got);
  BOOST_TEST(got->complete);
  BOOST_TEST((got->keys == std::vector<std::string>{"k0", "k1", "k2"}));
  scan_query two;
  two.max_rounds = 2;
  detail::walk_scan(node, two,
                    [&](caf::expected<scan_result> r) { got = std::move(r); });
  BOOST_REQUIRE(got);
  BOOST_TEST(!got->complete);
  BOOST_TEST((got->keys == std::vector<std::string>{"k0", "k1"}));
  detail::walk_scan(
    [](command, std::function<void(caf::expected<resp::value>)> k) {
      k(make_error(errc::disconnected, "gone"));
    },
    scan_query{}, [&](caf::expected<scan_result> r) { got = std::move(r); });
  BOOST_REQUIRE(!got);
  BOOST_TEST(code_of(got.error()) == errc::disconnected);
}

BOOST_AUTO_TEST_SUITE_END()
