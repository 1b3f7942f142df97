#define BOOST_TEST_MODULE pulse_metrics
#include <boost/test/unit_test.hpp>
