// edgefmr shared engine: the PE x SIMD int8 MAC array of the time-multiplexed design (firmware/hls/kernels/
// engine.h) with its layer-table control. One array runs every matrix layer in turn: for layer l the table gives
// VECTORS(l) input vectors, NF(l) = ceil(cols / PE) neuron folds and SF(l) = ceil(depth / SIMD) beats per fold
// (lanes past cols or depth read zero-padded words of the packed weight memory).
//
// Control: after `start`, for each layer: one cycle to read its table row, then the (vec, nf, sf) counters step
// through the layer, one beat per cycle, then the array drains (DRAIN cycles) so that the next layer may read the
// outputs of this one. The datapath is that of mac_array.v: address -> operand registers -> products (DSP M
// register) -> SIMD adder tree -> accumulator; PE accumulators leave at the end of each fold on acc/acc_valid.
// Cycles from start to done: sum over layers of (1 + VECTORS NF SF + DRAIN) + 1.
module efm_engine #(
    parameter PE = 2,
    parameter SIMD = 4,
    parameter LAYERS = 2,
    parameter ACC_W = 24,
    parameter TABLE = "table.hex"   // LAYERS words {vectors[31:0], nf[15:0], sf[15:0]}
) (
    input  wire                     clk,
    input  wire                     rst,
    input  wire                     start,
    output reg  [15:0]              layer,
    output reg  [31:0]              vec,
    output reg  [15:0]              nf,
    output reg  [15:0]              sf,
    output reg                      busy,
    input  wire [SIMD*9-1:0]        x,       // SIMD activations, 9-bit signed, for (layer, vec, sf)
    input  wire [PE*SIMD*8-1:0]     w,       // PE x SIMD weights, int8, for (layer, nf, sf)
    output reg  [PE*ACC_W-1:0]      acc,
    output reg                      acc_valid,
    output reg                      done
);
    localparam DRAIN = 5;
    reg [63:0] table_rom [0:LAYERS-1];
    initial $readmemh(TABLE, table_rom);
    reg [63:0] row;
    always @(posedge clk) row <= table_rom[layer];
    wire [31:0] n_vec = row[63:32];
    wire [15:0] n_nf = row[31:16];
    wire [15:0] n_sf = row[15:0];

    // layer sequencer: 0 idle, 1 table read, 2 run, 3 drain
    reg [1:0] state;
    reg [2:0] drain;
    wire last_sf = sf == n_sf - 16'd1;
    wire last_nf = nf == n_nf - 16'd1;
    wire last_vec = vec == n_vec - 32'd1;
    wire beat = state == 2'd2;
    always @(posedge clk) begin
        if (rst) begin
            state <= 2'd0; busy <= 1'b0; layer <= 0; vec <= 0; nf <= 0; sf <= 0; drain <= 0; done <= 1'b0;
        end else begin
            done <= 1'b0;
            case (state)
                2'd0: if (start) begin
                    state <= 2'd1; busy <= 1'b1; layer <= 0;
                end
                2'd1: begin
                    state <= 2'd2; vec <= 0; nf <= 0; sf <= 0;
                end
                2'd2: begin
                    sf <= last_sf ? 16'd0 : sf + 16'd1;
                    if (last_sf) begin
                        nf <= last_nf ? 16'd0 : nf + 16'd1;
                        if (last_nf) begin
                            vec <= vec + 32'd1;
                            if (last_vec) begin
                                state <= 2'd3; drain <= DRAIN - 1;
                            end
                        end
                    end
                end
                2'd3: begin
                    drain <= drain - 3'd1;
                    if (drain == 0) begin
                        if (layer == LAYERS - 1) begin
                            state <= 2'd0; busy <= 1'b0; done <= 1'b1;
                        end else begin
                            state <= 2'd1; layer <= layer + 16'd1;
                        end
                    end
                end
            endcase
        end
    end
    // control pipeline: valid, first (sf == 0) and last (sf == SF - 1) of each beat
    reg [3:0] v_p, first_p, last_p;
    always @(posedge clk) begin
        if (rst) begin
            v_p <= 0; first_p <= 0; last_p <= 0;
        end else begin
            v_p <= {v_p[2:0], beat};
            first_p <= {first_p[2:0], beat && sf == 0};
            last_p <= {last_p[2:0], beat && last_sf};
        end
    end
    reg signed [8:0] xr [0:SIMD-1];
    reg signed [7:0] wr [0:PE*SIMD-1];
    reg signed [16:0] prod [0:PE*SIMD-1];
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
    reg signed [ACC_W-1:0] accr [0:PE-1];
    always @(posedge clk) begin
        for (p = 0; p < PE; p = p + 1)
            if (v_p[3]) accr[p] <= first_p[3] ? psum[p] : accr[p] + psum[p];
    end
    always @(posedge clk) begin
        if (rst) acc_valid <= 1'b0;
        else acc_valid <= v_p[3] && last_p[3];
    end
    always @* begin
        for (p = 0; p < PE; p = p + 1) acc[p*ACC_W +: ACC_W] = accr[p];
    end
endmodule
