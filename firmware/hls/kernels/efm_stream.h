/* hls::stream for C simulation without the vendor headers.
 *
 * Under Vitis HLS synthesis (__SYNTHESIS__) and in the vendor's C simulation and co-simulation (run_hls.tcl
 * defines EFM_VENDOR_STREAM) the real <hls_stream.h> is used. Otherwise (g++ C simulation) this shim mirrors the part of
 * its API the edgefmr kernels use: an unbounded FIFO with read/write (blocking and non-blocking forms), empty,
 * full, size and the >> / << operators. A read of an empty stream is a design error (in hardware it would block
 * forever): the shim prints the stream's name and aborts, so C simulation fails loudly instead of inventing data.
 */
#ifndef EFM_STREAM_H
#define EFM_STREAM_H

#if defined(__SYNTHESIS__) || defined(EFM_VENDOR_STREAM)
#include <hls_stream.h>
#else
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <deque>

namespace hls {

template <typename T>
class stream {
  public:
    stream() : name_("(unnamed)") {}
    explicit stream(const char *name) : name_(name) {}
    stream(const stream &) = delete;
    stream &operator=(const stream &) = delete;

    T read() {
        if (q_.empty()) {
            std::fprintf(stderr, "hls::stream '%s': read while empty (the design would deadlock)\n", name_);
            std::abort();
        }
        T v = q_.front();
        q_.pop_front();
        return v;
    }
    void read(T &v) { v = read(); }
    bool read_nb(T &v) {
        if (q_.empty()) {
            return false;
        }
        v = read();
        return true;
    }
    void write(const T &v) { q_.push_back(v); }
    bool write_nb(const T &v) {
        write(v);
        return true;
    }
    bool empty() const { return q_.empty(); }
    bool full() const { return false; }
    std::size_t size() const { return q_.size(); }
    const char *name() const { return name_; }
    void operator>>(T &v) { read(v); }
    void operator<<(const T &v) { write(v); }

  private:
    std::deque<T> q_;
    const char *name_;
};

}  // namespace hls
#endif

#endif /* EFM_STREAM_H */
