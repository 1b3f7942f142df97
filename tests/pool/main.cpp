#define BOOST_TEST_MODULE pulse_pool
#include <boost/test/unit_test.hpp>
