#define BOOST_TEST_MODULE pulse_streaming
#include <boost/test/unit_test.hpp>
