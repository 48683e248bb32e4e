// The shared test vectors (../shared/testdata, SIGIL_TESTDATA_DIR). A missing or
// unreadable file fails the test: vectors are never skipped silently. For tests only.
#pragma once

#include <gtest/gtest.h>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>

#include <fstream>
#include <sstream>
#include <string>

namespace sigil::testing {

inline std::string read_test_data(const std::string& relative) {
  const std::string path = std::string(SIGIL_TESTDATA_DIR) + "/" + relative;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing test data: " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A test-data file that holds one JSON object.
inline boost::json::object load_test_json(const std::string& relative) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(read_test_data(relative), ec);
  EXPECT_FALSE(ec) << relative << ": " << ec.message();
  EXPECT_TRUE(v.is_object()) << relative;
  return v.is_object() ? v.as_object() : boost::json::object{};
}

}  // namespace sigil::testing
