// Precompiled for the http sources only: Beast and Asio are most of their compile time.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
