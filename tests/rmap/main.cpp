#define BOOST_TEST_MODULE pulse_rmap
#include <boost/test/unit_test.hpp>
