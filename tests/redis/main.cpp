#define BOOST_TEST_MODULE pulse_redis
#include <boost/test/unit_test.hpp>
