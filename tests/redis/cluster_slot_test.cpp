// Unit tests of Redis Cluster slot computation (CRC16/XMODEM, hash tags)
// and of the key a command is routed by. No server needed. Check values:
// /work/shared/reference/production-redis.md §4.2 (verified there against
// CLUSTER KEYSLOT).

#include <boost/test/unit_test.hpp>

#include "pulse/actors/redis/cluster_slot.hpp"

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

BOOST_AUTO_TEST_SUITE_END()
