#define BOOST_TEST_MODULE pulse_tools
#include <boost/test/unit_test.hpp>
