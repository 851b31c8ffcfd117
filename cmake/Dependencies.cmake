# Third-party libraries, all from Debian packages except DuckDB (see
# scripts/bootstrap). Each is wrapped into an imported target used by exactly
# one adapter of src/.
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(ZLIB REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(CURL REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(Boost 1.74 REQUIRED)
find_package(simdjson REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(CLI11 REQUIRED)
find_package(fmt REQUIRED)
find_package(absl REQUIRED)
find_package(spdlog REQUIRED)
find_package(GTest REQUIRED)
find_package(benchmark REQUIRED)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)

# DuckDB: prefer a system installation, else the copy unpacked by
# scripts/bootstrap into .deps/duckdb. The binary carries an rpath to it.
find_library(DUCKDB_LIBRARY NAMES duckdb)
find_path(DUCKDB_INCLUDE_DIR NAMES duckdb.h)
if(NOT DUCKDB_LIBRARY OR NOT DUCKDB_INCLUDE_DIR)
  set(_duckdb_local ${CMAKE_SOURCE_DIR}/.deps/duckdb)
  find_library(DUCKDB_LIBRARY NAMES duckdb PATHS ${_duckdb_local}/lib NO_DEFAULT_PATH REQUIRED)
  find_path(DUCKDB_INCLUDE_DIR NAMES duckdb.h PATHS ${_duckdb_local}/include NO_DEFAULT_PATH REQUIRED)
endif()
message(STATUS "DuckDB: ${DUCKDB_LIBRARY}")
add_library(duckdb_c SHARED IMPORTED GLOBAL)
set_target_properties(duckdb_c PROPERTIES IMPORTED_LOCATION ${DUCKDB_LIBRARY}
  IMPORTED_NO_SONAME TRUE)
target_include_directories(duckdb_c SYSTEM INTERFACE ${DUCKDB_INCLUDE_DIR})
get_filename_component(DUCKDB_LIBRARY_DIR ${DUCKDB_LIBRARY} DIRECTORY)
# Executables find libduckdb.so without LD_LIBRARY_PATH.
set(CMAKE_BUILD_RPATH ${DUCKDB_LIBRARY_DIR})
set(CMAKE_INSTALL_RPATH ${DUCKDB_LIBRARY_DIR})
