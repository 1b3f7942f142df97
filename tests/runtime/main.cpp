#define BOOST_TEST_MODULE pulse_runtime_unit
#include <boost/test/unit_test.hpp>
