// edgefmr int8 MAC array (PE x SIMD), the core of the HLS matrix-vector unit (firmware/hls/kernels/
// fully_connected.h): for each input vector, NF = COLS/PE neuron folds of SF = DEPTH/SIMD cycles; each cycle
// multiplies SIMD activations (x - zero point, 9-bit signed) by PE x SIMD int8 weights and accumulates per PE.
//
// The array sequences its own folds: after `start` it requests (vec, nf, sf) on the address outputs, takes the
// operands the cycle after (memories with one cycle of read latency), and emits PE accumulators on acc/acc_valid
// at the end of each neuron fold. `done` rises after the last vector. Pipeline: address -> operand registers ->
// products (DSP M register) -> SIMD adder tree -> accumulator, LATENCY = 4 cycles from an address to its
// accumulation; an output leaves one cycle after its last accumulation.
module efm_mac_array #(
    parameter PE = 2,
    parameter SIMD = 4,
    parameter NF = 4,       // COLS / PE
    parameter SF = 8,       // DEPTH / SIMD
    parameter VECTORS = 1,
    parameter ACC_W = 24
) (
    input  wire                     clk,
    input  wire                     rst,
    input  wire                     start,
    output reg  [31:0]              vec,
    output reg  [15:0]              nf,
    output reg  [15:0]              sf,
    output reg                      busy,
    input  wire [SIMD*9-1:0]        x,       // SIMD activations, 9-bit signed, for (vec, sf)
    input  wire [PE*SIMD*8-1:0]     w,       // PE x SIMD weights, int8, for (nf, sf)
    output reg  [PE*ACC_W-1:0]      acc,
    output reg                      acc_valid,
    output reg                      done
);
    // stage 0: address counters
    wire last_sf = sf == SF - 1;
    wire last_nf = nf == NF - 1;
    wire last_vec = vec == VECTORS - 1;
    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0; vec <= 0; nf <= 0; sf <= 0;
        end else if (start && !busy) begin
            busy <= 1'b1; vec <= 0; nf <= 0; sf <= 0;
        end else if (busy) begin
            sf <= last_sf ? 16'd0 : sf + 16'd1;
            if (last_sf) begin
                nf <= last_nf ? 16'd0 : nf + 16'd1;
                if (last_nf) begin
                    vec <= vec + 32'd1;
                    if (last_vec) busy <= 1'b0;
                end
            end
        end
    end
    // control pipeline: valid, first (sf == 0) and last (sf == SF - 1) of each beat
    reg [3:0] v_p, first_p, last_p, end_p;
    always @(posedge clk) begin
        if (rst) begin
            v_p <= 0; first_p <= 0; last_p <= 0; end_p <= 0;
        end else begin
            v_p <= {v_p[2:0], busy};
            first_p <= {first_p[2:0], busy && sf == 0};
            last_p <= {last_p[2:0], busy && last_sf};
            end_p <= {end_p[2:0], busy && last_sf && last_nf && last_vec};
        end
    end
    // stage 1: operand registers (memory read data arrives here)
    reg signed [8:0] xr [0:SIMD-1];
    reg signed [7:0] wr [0:PE*SIMD-1];
    // stage 2: products
    reg signed [16:0] prod [0:PE*SIMD-1];
    // stage 3: per-PE sums of the SIMD products
    reg signed [ACC_W-1:0] psum [0:PE-1];
    integer i, p, s;
    always @(posedge clk) begin
        for (s = 0; s < SIMD; s = s + 1) xr[s] <= x[s*9 +: 9];
        for (i = 0; i < PE*SIMD; i = i + 1) wr[i] <= w[i*8 +: 8];
        for (p = 0; p < PE; p = p + 1)
            for (s = 0; s < SIMD; s = s + 1)
                prod[p*SIMD+s] <= xr[s] * wr[p*SIMD+s];
    end
    reg signed [ACC_W-1:0] tree [0:PE-1];
    always @* begin
        for (p = 0; p < PE; p = p + 1) begin
            tree[p] = 0;
            for (s = 0; s < SIMD; s = s + 1) tree[p] = tree[p] + prod[p*SIMD+s];
        end
    end
    always @(posedge clk) begin
        for (p = 0; p < PE; p = p + 1) psum[p] <= tree[p];
    end
    // stage 4: accumulators; an output leaves after the last beat of a fold
    reg signed [ACC_W-1:0] accr [0:PE-1];
    always @(posedge clk) begin
        for (p = 0; p < PE; p = p + 1)
            if (v_p[3]) accr[p] <= first_p[3] ? psum[p] : accr[p] + psum[p];
    end
    always @(posedge clk) begin
        if (rst) begin
            acc_valid <= 1'b0; done <= 1'b0;
        end else begin
            acc_valid <= v_p[3] && last_p[3];
            done <= v_p[3] && end_p[3];
        end
    end
    always @* begin
        for (p = 0; p < PE; p = p + 1) acc[p*ACC_W +: ACC_W] = accr[p];
    end
endmodule
