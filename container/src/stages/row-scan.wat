;; The dump inventory's hot loop (row-scan.ts): walks pg_dump's length-prefixed COPY pieces in one
;; window of input, copies each piece's bytes into the digest stage and counts its newlines, 16 bytes
;; at a time. Built into row-scan-wasm.ts by `npm run build:wasm`; test/row-scan.test.ts checks that
;; the embedded bytes are this file's.
;;
;; Memory: [0, 65536 + 16) the digest stage (16 bytes of slack: the last vector of a piece is stored
;; whole), [131072, 131072 + window + 16) the input window (16 bytes of slack: the last vector is
;; loaded whole and its lanes past the piece are masked off).
(module
  (memory (export "memory") 35)

  ;; Results of the last scan, read by row-scan.ts.
  (global $o (export "o") (mut i32) (i32.const 0))
  (global $w (export "w") (mut i32) (i32.const 0))
  (global $lines (export "lines") (mut i32) (i32.const 0))
  (global $size (export "size") (mut i32) (i32.const 0))
  (global $pieceStart (export "pieceStart") (mut i32) (i32.const -1))
  (global $lastEnd (export "lastEnd") (mut i32) (i32.const 0))
  (global $pieceLen (export "pieceLen") (mut i32) (i32.const 0))

  ;; Scans pieces from offset $o0 while whole ones lie inside [0, $n) of the window at $in, staging
  ;; them at $stage + $w0 while they fit under $cap. Returns why it stopped:
  ;;   0: the next header or piece is not whole in the window (or the window is used up);
  ;;   1: the block's end (a zero length), consumed;
  ;;   2: the next piece ($pieceLen bytes) does not fit in the stage, not consumed;
  ;;   3: a negative length, not consumed.
  (func (export "scan")
    (param $in i32) (param $o0 i32) (param $n i32) (param $intSize i32)
    (param $stage i32) (param $w0 i32) (param $cap i32)
    (result i32)
    (local $o i32) (local $w i32) (local $lines i32) (local $size i32)
    (local $len64 i64) (local $i i32) (local $start i32) (local $len i32)
    (local $src i32) (local $dst i32) (local $end i32) (local $v v128) (local $nl v128)
    (local $status i32)
    (local.set $o (local.get $o0))
    (local.set $w (local.get $w0))
    (local.set $nl (i8x16.splat (i32.const 10)))
    (global.set $pieceStart (i32.const -1))
    (block $stop
      (loop $piece
        ;; A header: a sign byte, then $intSize bytes, least significant first.
        (local.set $status (i32.const 0))
        (br_if $stop (i32.lt_s (i32.sub (local.get $n) (local.get $o))
                               (i32.add (local.get $intSize) (i32.const 1))))
        (local.set $len64 (i64.const 0))
        (local.set $i (local.get $intSize))
        (block $read_done
          (loop $read
            (br_if $read_done (i32.eqz (local.get $i)))
            (local.set $len64
              (i64.or (i64.shl (local.get $len64) (i64.const 8))
                      (i64.extend_i32_u
                        (i32.load8_u (i32.add (local.get $in) (i32.add (local.get $o) (local.get $i)))))))
            (local.set $i (i32.sub (local.get $i) (i32.const 1)))
            (br $read)))
        (local.set $start (i32.add (local.get $o) (i32.add (local.get $intSize) (i32.const 1))))
        (if (i64.eqz (local.get $len64))
          (then
            (local.set $o (local.get $start))
            (local.set $status (i32.const 1))
            (br $stop)))
        (local.set $status (i32.const 3))
        (br_if $stop (i32.load8_u (i32.add (local.get $in) (local.get $o))))
        (local.set $status (i32.const 0))
        (br_if $stop (i64.gt_u (local.get $len64)
                               (i64.extend_i32_u (i32.sub (local.get $n) (local.get $start)))))
        (local.set $len (i32.wrap_i64 (local.get $len64)))
        (if (i32.gt_u (i32.add (local.get $w) (local.get $len)) (local.get $cap))
          (then
            (global.set $pieceLen (local.get $len))
            (local.set $status (i32.const 2))
            (br $stop)))
        ;; Copy and count, one vector at a time; the last vector's lanes past the piece are masked.
        (local.set $src (i32.add (local.get $in) (local.get $start)))
        (local.set $end (i32.add (local.get $src) (local.get $len)))
        (local.set $dst (i32.add (local.get $stage) (local.get $w)))
        (block $copied
          (loop $vec
            (br_if $copied (i32.ge_u (local.get $src) (local.get $end)))
            (local.set $v (v128.load (local.get $src)))
            (v128.store (local.get $dst) (local.get $v))
            (local.set $lines
              (i32.add (local.get $lines)
                (i32.popcnt
                  (i32.and
                    (i8x16.bitmask (i8x16.eq (local.get $v) (local.get $nl)))
                    ;; all 16 lanes, or only the $end - $src left
                    (select
                      (i32.const 0xffff)
                      (i32.sub (i32.shl (i32.const 1) (i32.sub (local.get $end) (local.get $src))) (i32.const 1))
                      (i32.ge_u (i32.sub (local.get $end) (local.get $src)) (i32.const 16)))))))
            (local.set $src (i32.add (local.get $src) (i32.const 16)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
            (br $vec)))
        (local.set $w (i32.add (local.get $w) (local.get $len)))
        (local.set $size (i32.add (local.get $size) (local.get $len)))
        (global.set $pieceStart (local.get $start))
        (local.set $o (i32.add (local.get $start) (local.get $len)))
        (global.set $lastEnd (local.get $o))
        (br $piece)))
    (global.set $o (local.get $o))
    (global.set $w (local.get $w))
    (global.set $lines (local.get $lines))
    (global.set $size (local.get $size))
    (local.get $status))
)
